// Signed requests of the authenticator to its server: every request carries the device id,
// a timestamp (Unix ms, strictly increasing within this process) and an Ed25519 signature
// over method, target, device, timestamp and body digest (factors/push.hpp).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/authenticator/accounts.hpp"
#include "twostep/authenticator/http_client.hpp"

namespace twostep::authenticator {

// The three signature headers (and Content-Type) for one request. device_id is empty for
// the enrolment request.
std::vector<std::string> signed_headers(std::string_view device_id, std::string_view secret_key,
                                        std::string_view method, std::string_view target,
                                        std::string_view body);

class DeviceClient {
 public:
  explicit DeviceClient(const Account& account) : a_(account) {}
  // target: "/api/v1/..." (signed as is). A request refused as a replay (another process of
  // this authenticator signed one with a later time meanwhile) is signed again once.
  HttpResult send(const std::string& method, const std::string& target, const std::string& body);
  HttpResult stream(const std::string& target, const std::function<bool(std::string_view)>& on_data,
                    std::chrono::seconds idle);

 private:
  const Account& a_;
};

// The reason code of an error body ({"error": ...}), or "".
std::string error_code(const HttpResult& r);

}  // namespace twostep::authenticator
