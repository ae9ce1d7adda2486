#include "twostep/authenticator/device_client.hpp"

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>

#include "twostep/crypto/encoding.hpp"
#include "twostep/factors/push.hpp"

namespace twostep::authenticator {
namespace {

// Unix milliseconds, never the same twice in this process (the server wants each request
// later than the last one it accepted from this device).
int64_t next_timestamp_ms() {
  static std::atomic<int64_t> last{0};
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  int64_t prev = last.load();
  int64_t ts = 0;
  do {
    ts = std::max(now, prev + 1);
  } while (!last.compare_exchange_weak(prev, ts));
  return ts;
}

}  // namespace

std::vector<std::string> signed_headers(std::string_view device_id, std::string_view secret_key,
                                        std::string_view method, std::string_view target,
                                        std::string_view body) {
  const int64_t ts = next_timestamp_ms();
  const std::string sig = factors::push::sign(
      secret_key, factors::push::signing_string(method, target, device_id, ts, body));
  std::vector<std::string> h = {
      "X-Twostep-Timestamp: " + std::to_string(ts),
      "X-Twostep-Signature: " + crypto::base64url_encode(sig),
      "Content-Type: application/json",
      "Accept: application/json, text/event-stream",
  };
  if (!device_id.empty()) h.push_back("X-Twostep-Device: " + std::string(device_id));
  return h;
}

std::string error_code(const HttpResult& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    return j["error"].get<std::string>();
  }
  return {};
}

HttpResult DeviceClient::send(const std::string& method, const std::string& target,
                              const std::string& body) {
  HttpResult r;
  for (int attempt = 0; attempt < 2; ++attempt) {
    r = http_request(method, a_.server + target, body,
                     signed_headers(a_.device_id, a_.secret_key.view(), method, target, body));
    if (!(r.status == 401 && error_code(r) == "replayed_request")) break;
  }
  return r;
}

HttpResult DeviceClient::stream(const std::string& target,
                                const std::function<bool(std::string_view)>& on_data,
                                std::chrono::seconds idle) {
  return http_stream(a_.server + target,
                     signed_headers(a_.device_id, a_.secret_key.view(), "GET", target, ""), on_data,
                     idle);
}

}  // namespace twostep::authenticator
