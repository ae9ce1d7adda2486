// The authenticator's HTTP(S) client (libcurl): plain requests and a streamed GET for the
// server's event stream, plus a parser for Server-Sent Events. Certificates are verified.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace twostep::authenticator {

struct HttpResult {
  long status = 0;    // 0 when no answer arrived
  std::string body;   // the body (of an error, for a stream)
  std::string error;  // transport error for people ("Could not connect ...")
  bool ok() const { return status >= 200 && status < 300; }
};

// Call once at start (curl_global_init), before any thread starts.
void http_global_init();

// One request. `headers` are "Name: value" lines.
HttpResult http_request(const std::string& method, const std::string& url, const std::string& body,
                        const std::vector<std::string>& headers,
                        std::chrono::seconds timeout = std::chrono::seconds(20));

// A streamed GET: `on_data` gets the body as it arrives while the status is 2xx; returning
// false ends the stream. The stream also ends when nothing arrives for `idle` (the server
// sends a comment every few seconds) or the connection drops.
HttpResult http_stream(const std::string& url, const std::vector<std::string>& headers,
                       const std::function<bool(std::string_view)>& on_data,
                       std::chrono::seconds idle);

// Server-Sent Events: feed chunks, get whole events. Comments (": ping") are skipped; an
// event without an "event:" field is "message"; several "data:" lines join with "\n".
struct SseEvent {
  std::string event;
  std::string data;
};

class SseParser {
 public:
  std::vector<SseEvent> feed(std::string_view chunk);

 private:
  static constexpr std::size_t kMaxBuffer = 1 << 20;  // a line longer than this is dropped
  std::string buffer_;
  SseEvent current_;
  bool has_data_ = false;
};

// {"error","message"} bodies: the message; else the status and a short text.
std::string describe_failure(const HttpResult& r);

}  // namespace twostep::authenticator
