#include "twostep/authenticator/http_client.hpp"

#include <curl/curl.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

namespace twostep::authenticator {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

size_t append_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

SlistPtr header_list(const std::vector<std::string>& headers) {
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  // libcurl would otherwise send "Expect: 100-continue" for larger bodies and wait.
  list = curl_slist_append(list, "Expect:");
  return SlistPtr(list);
}

// A configured handle and the header list it points to (which must outlive it).
struct Easy {
  CurlPtr curl;
  SlistPtr headers;
  CURL* get() const { return curl.get(); }
};

std::optional<Easy> prepare(const std::string& url, const std::vector<std::string>& headers) {
  Easy e{CurlPtr(curl_easy_init()), header_list(headers)};
  if (!e.curl) return std::nullopt;
  CURL* c = e.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, e.headers.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "twostep-auth/" TWOSTEP_VERSION);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a signed request is for one URL only
  return e;
}

HttpResult not_started() { return HttpResult{0, "", "cannot start libcurl"}; }

struct StreamState {
  CURL* curl = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  std::string error_body;
  std::chrono::steady_clock::time_point last_data = std::chrono::steady_clock::now();
  std::chrono::seconds idle{45};
  bool idle_timeout = false;
};

size_t stream_body(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<StreamState*>(user);
  st->last_data = std::chrono::steady_clock::now();
  long status = 0;
  curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) {
    if (st->error_body.size() < 65536) st->error_body.append(data, size * n);
    return size * n;
  }
  return (*st->on_data)(std::string_view(data, size * n)) ? size * n : 0;
}

int stream_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<StreamState*>(user);
  if (std::chrono::steady_clock::now() - st->last_data > st->idle) {
    st->idle_timeout = true;
    return 1;  // abort: the server's heartbeats stopped
  }
  return 0;
}

}  // namespace

void http_global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }

HttpResult http_request(const std::string& method, const std::string& url, const std::string& body,
                        const std::vector<std::string>& headers, std::chrono::seconds timeout) {
  auto c = prepare(url, headers);
  if (!c) return not_started();
  HttpResult r;
  curl_easy_setopt(c->get(), CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  curl_easy_setopt(c->get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method != "GET") {
    curl_easy_setopt(c->get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c->get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c->get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c->get(), CURLOPT_WRITEDATA, &r.body);
  CURLcode rc = curl_easy_perform(c->get());
  if (rc != CURLE_OK) {
    r.error = curl_easy_strerror(rc);
    return r;
  }
  curl_easy_getinfo(c->get(), CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

HttpResult http_stream(const std::string& url, const std::vector<std::string>& headers,
                       const std::function<bool(std::string_view)>& on_data,
                       std::chrono::seconds idle) {
  auto c = prepare(url, headers);
  if (!c) return not_started();
  HttpResult r;
  StreamState st;
  st.curl = c->get();
  st.on_data = &on_data;
  st.idle = idle;
  curl_easy_setopt(c->get(), CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c->get(), CURLOPT_WRITEFUNCTION, stream_body);
  curl_easy_setopt(c->get(), CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c->get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c->get(), CURLOPT_XFERINFOFUNCTION, stream_progress);
  curl_easy_setopt(c->get(), CURLOPT_XFERINFODATA, &st);
  CURLcode rc = curl_easy_perform(c->get());
  curl_easy_getinfo(c->get(), CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(st.error_body);
  if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) {
    r.error = st.idle_timeout ? "the event stream went silent" : curl_easy_strerror(rc);
  }
  return r;
}

std::vector<SseEvent> SseParser::feed(std::string_view chunk) {
  std::vector<SseEvent> out;
  buffer_.append(chunk);
  size_t start = 0;
  for (;;) {
    size_t nl = buffer_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(buffer_.data() + start, nl - start);
    start = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {  // end of an event
      if (has_data_) {
        if (current_.event.empty()) current_.event = "message";
        out.push_back(std::move(current_));
      }
      current_ = SseEvent{};
      has_data_ = false;
      continue;
    }
    if (line.front() == ':') continue;  // a comment (heartbeat)
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") {
      current_.event = std::string(value);
    } else if (field == "data") {
      if (has_data_) current_.data.push_back('\n');
      current_.data.append(value);
      has_data_ = true;
    }
  }
  buffer_.erase(0, start);
  if (buffer_.size() > kMaxBuffer) buffer_.clear();
  return out;
}

std::string describe_failure(const HttpResult& r) {
  if (r.status == 0) return r.error.empty() ? "no answer from the server" : r.error;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    std::string m = j["message"].get<std::string>();
    for (char& c : m) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // printed on a terminal
    }
    return m;
  }
  return "the server answered HTTP " + std::to_string(r.status);
}

}  // namespace twostep::authenticator
