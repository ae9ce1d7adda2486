#include "twostep/services/sms_gateway.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "twostep/core/log.hpp"

namespace twostep::services {

using core::Code;
using core::fail;

core::Error sms_delivery_failed(std::string detail) {
  return core::Error{Code::kBadGateway, "sms_delivery_failed",
                     "The text message could not be sent. Try again in a moment, or use another "
                     "method.",
                     std::move(detail), 0};
}

bool sms_off(const core::SmsConfig& sms) { return sms.gateway == "off"; }

core::Error sms_disabled() {
  return core::Error{Code::kFailedPrecondition,
                     "sms_disabled",
                     "Codes by SMS are turned off on this server. Use another method or a "
                     "recovery code.",
                     {},
                     0};
}

namespace sms_detail {

std::string render_body(std::string_view body_template, std::string_view to,
                        std::string_view message) {
  auto escaped = [](std::string_view v) {
    std::string quoted = nlohmann::json(std::string(v)).dump();
    return quoted.substr(1, quoted.size() - 2);  // the template supplies the quotes
  };
  const std::string to_json = escaped(to);
  const std::string message_json = escaped(message);
  std::string out;
  for (size_t i = 0; i < body_template.size();) {
    if (body_template.substr(i, 4) == "{to}") {
      out += to_json;
      i += 4;
    } else if (body_template.substr(i, 9) == "{message}") {
      out += message_json;
      i += 9;
    } else {
      out += body_template[i++];
    }
  }
  return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  static const char* kHex = "0123456789ABCDEF";
  auto encode = [](std::string_view v, std::string& out) {
    for (unsigned char c : v) {
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 0x0f];
      }
    }
  };
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    encode(k, out);
    out += '=';
    encode(v, out);
  }
  return out;
}

std::string twilio_messages_url(std::string_view base_url, std::string_view account_sid) {
  std::string base(base_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/2010-04-01/Accounts/" + std::string(account_sid) + "/Messages.json";
}

}  // namespace sms_detail

namespace {

using Clock = std::chrono::steady_clock;

// --- off: codes by SMS are turned off --------------------------------------------

// The Sms service and the CLI refuse before they get here; should anything still try to
// send, it is refused the same way and nothing goes out.
class OffGateway final : public SmsGateway {
 public:
  std::string_view name() const override { return "off"; }
  core::Status send(const SmsMessage&) override { return tl::unexpected(sms_disabled()); }
};

// --- log: development only -----------------------------------------------------

class LogGateway final : public SmsGateway {
 public:
  std::string_view name() const override { return "log"; }
  core::Status send(const SmsMessage& m) override {
    std::string text;
    for (char c : m.text) {
      if (c == '\n') {
        text += "\\n";
      } else {
        text += c;
      }
    }
    // Deliberately logs the code: this driver exists so that a developer can sign in without
    // a provider. Start-up warns that it must not be used in production.
    LOG_WARN("DEVELOPMENT sms gateway (sms.gateway = log), nothing was sent: to="
             << m.to << " text=\"" << text << "\"");
    return core::ok();
  }
};

// --- libcurl --------------------------------------------------------------------

struct Post {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string content_type;
  std::string body;
  std::string username;  // HTTP Basic when not empty
  std::string password;
};

struct Limits {
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds total;  // for one message, every attempt included
  int retries = 0;
};

struct Attempt {
  bool retryable = false;
  std::string detail;  // empty on success
};

size_t discard_body(char*, size_t size, size_t n, void*) { return size * n; }

struct CurlHandle {
  CURL* h = curl_easy_init();
  curl_slist* headers = nullptr;
  ~CurlHandle() {
    curl_slist_free_all(headers);
    if (h != nullptr) curl_easy_cleanup(h);
  }
};

Attempt post_once(const Post& p, std::chrono::milliseconds connect_timeout,
                  std::chrono::milliseconds timeout) {
  CurlHandle c;
  if (c.h == nullptr) return {false, "curl_easy_init failed"};
  for (const auto& h : p.headers) c.headers = curl_slist_append(c.headers, h.c_str());
  c.headers = curl_slist_append(c.headers, ("Content-Type: " + p.content_type).c_str());
  c.headers = curl_slist_append(c.headers, "Accept: application/json");
  c.headers = curl_slist_append(c.headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c.h, CURLOPT_URL, p.url.c_str());
  curl_easy_setopt(c.h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);  // many threads: no SIGALRM for timeouts
  curl_easy_setopt(c.h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
  curl_easy_setopt(c.h, CURLOPT_POST, 1L);
  curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, p.body.c_str());
  curl_easy_setopt(c.h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(p.body.size()));
  curl_easy_setopt(c.h, CURLOPT_USERAGENT, "twostep/" TWOSTEP_VERSION);
  curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  // The provider's answer may echo the number: it is read and dropped, never logged.
  curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, discard_body);
  if (!p.username.empty()) {
    curl_easy_setopt(c.h, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c.h, CURLOPT_USERNAME, p.username.c_str());
    curl_easy_setopt(c.h, CURLOPT_PASSWORD, p.password.c_str());
  }
  CURLcode rc = curl_easy_perform(c.h);
  if (rc != CURLE_OK) {
    curl_off_t connect_us = 0;
    curl_easy_getinfo(c.h, CURLINFO_CONNECT_TIME_T, &connect_us);
    // Retry only when the request cannot have reached the provider: a retry after it was
    // sent could deliver the same code twice.
    bool not_connected = connect_us == 0;
    bool retryable = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                     (rc == CURLE_OPERATION_TIMEDOUT && not_connected);
    return {retryable, std::string("curl: ") + curl_easy_strerror(rc)};
  }
  long status = 0;
  curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return {false, ""};
  // 429 and gateway/proxy errors say the message was not taken; a 500 may have been.
  bool retryable = status == 429 || status == 502 || status == 503 || status == 504;
  return {retryable, "HTTP " + std::to_string(status)};
}

// Posts with bounded retries inside one time budget (and before the message's deadline).
// Backs off 200 ms, 400 ms, ...
core::Status post(const Post& p, const Limits& limits, SmsDeadline until, std::string_view driver) {
  auto deadline = Clock::now() + limits.total;
  if (until != SmsDeadline{}) deadline = std::min(deadline, until);
  std::string details;
  for (int attempt = 0; attempt <= limits.retries; ++attempt) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left < std::chrono::milliseconds(50)) {
      if (details.empty()) details = "no time left in the delivery budget";
      break;
    }
    Attempt a = post_once(p, std::min(limits.connect_timeout, left), left);
    if (a.detail.empty()) return core::ok();
    if (!details.empty()) details += "; ";
    details += a.detail;
    LOG_WARN("sms gateway " << driver << ": attempt " << attempt + 1 << " failed: " << a.detail);
    if (!a.retryable) break;
    auto pause = std::chrono::milliseconds(200) * (1 << std::min(attempt, 4));
    if (Clock::now() + pause + std::chrono::milliseconds(50) >= deadline) break;
    std::this_thread::sleep_for(pause);
  }
  return tl::unexpected(sms_delivery_failed(std::string(driver) + ": " + details));
}

Limits limits_of(const core::SmsConfig& s) {
  return Limits{std::chrono::milliseconds(s.connect_timeout_ms),
                std::chrono::milliseconds(s.timeout_ms), s.retries};
}

// --- http: generic JSON POST ------------------------------------------------------

class HttpGateway final : public SmsGateway {
 public:
  explicit HttpGateway(const core::SmsConfig& s)
      : url_(s.http_url), headers_(s.http_headers), body_(s.http_body), limits_(limits_of(s)) {}
  std::string_view name() const override { return "http"; }
  core::Status send(const SmsMessage& m) override {
    Post p;
    p.url = url_;
    p.headers = headers_;
    p.content_type = "application/json";
    p.body = sms_detail::render_body(body_, m.to, m.text);
    return post(p, limits_, m.deadline, name());
  }

 private:
  std::string url_;
  std::vector<std::string> headers_;
  std::string body_;
  Limits limits_;
};

// --- twilio: Messages API ---------------------------------------------------------

class TwilioGateway final : public SmsGateway {
 public:
  explicit TwilioGateway(const core::SmsConfig& s)
      : url_(sms_detail::twilio_messages_url(s.twilio_base_url, s.twilio_account_sid)),
        sid_(s.twilio_account_sid),
        token_(s.twilio_auth_token),
        from_(s.twilio_from),
        service_(s.twilio_messaging_service_sid),
        limits_(limits_of(s)) {}
  std::string_view name() const override { return "twilio"; }
  core::Status send(const SmsMessage& m) override {
    std::vector<std::pair<std::string, std::string>> fields = {{"To", m.to}};
    // A messaging service picks the sender itself; otherwise From is the sender.
    if (!service_.empty()) {
      fields.emplace_back("MessagingServiceSid", service_);
    } else {
      fields.emplace_back("From", from_);
    }
    fields.emplace_back("Body", m.text);
    Post p;
    p.url = url_;
    p.content_type = "application/x-www-form-urlencoded";
    p.body = sms_detail::form_encode(fields);
    p.username = sid_;
    p.password = token_;
    return post(p, limits_, m.deadline, name());
  }

 private:
  std::string url_;
  std::string sid_;
  std::string token_;
  std::string from_;
  std::string service_;
  Limits limits_;
};

core::Error bad(const std::string& key, const std::string& what) {
  return core::Error{Code::kInvalidArgument, "invalid_config", "sms." + key + ": " + what, {}, 0};
}

bool http_url(std::string_view u) {
  return (u.rfind("http://", 0) == 0 && u.size() > 7) ||
         (u.rfind("https://", 0) == 0 && u.size() > 8);
}

bool token_chars(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

}  // namespace

core::Status check_gateway_config(const core::SmsConfig& s) {
  if (s.connect_timeout_ms < 100 || s.timeout_ms < 100) {
    return tl::unexpected(
        bad("timeout_ms", "connect_timeout_ms and timeout_ms must be at least 100"));
  }
  if (s.retries > 5) return tl::unexpected(bad("retries", "at most 5"));
  if (s.gateway == "off" || s.gateway == "log") return core::ok();
  if (s.gateway == "http") {
    if (!http_url(s.http_url)) {
      return tl::unexpected(bad("http_url", "the http gateway needs an http:// or https:// URL"));
    }
    for (const auto& h : s.http_headers) {
      auto colon = h.find(':');
      bool ok = colon != std::string::npos && colon > 0 &&
                h.find_first_of("\r\n") == std::string::npos &&
                h.substr(0, colon).find_first_of(" \t") == std::string::npos;
      if (!ok) return tl::unexpected(bad("http_headers", "expected \"Name: value\" entries"));
    }
    if (s.http_body.find("{to}") == std::string::npos ||
        s.http_body.find("{message}") == std::string::npos) {
      return tl::unexpected(bad("http_body", "the template needs both {to} and {message}"));
    }
    auto sample = sms_detail::render_body(s.http_body, "+41790000000", "123456 \"x\"\n@h #1");
    if (nlohmann::json::parse(sample, nullptr, false).is_discarded()) {
      return tl::unexpected(
          bad("http_body", "the template is not JSON once {to} and {message} are filled in"));
    }
    return core::ok();
  }
  if (s.gateway == "twilio") {
    if (!http_url(s.twilio_base_url)) {
      return tl::unexpected(bad("twilio_base_url", "expected an http:// or https:// URL"));
    }
    if (!token_chars(s.twilio_account_sid)) {
      return tl::unexpected(bad("twilio_account_sid", "required (letters and digits, e.g. AC...)"));
    }
    if (s.twilio_auth_token.empty()) return tl::unexpected(bad("twilio_auth_token", "required"));
    if (s.twilio_from.empty() && s.twilio_messaging_service_sid.empty()) {
      return tl::unexpected(
          bad("twilio_from", "set twilio_from (a number) or twilio_messaging_service_sid"));
    }
    return core::ok();
  }
  return tl::unexpected(
      bad("gateway", "expected off, log, http or twilio, got '" + s.gateway + "'"));
}

core::Result<std::unique_ptr<SmsGateway>> make_sms_gateway(const core::SmsConfig& s) {
  TS_RETURN_IF_ERROR(check_gateway_config(s));
  if (sms_off(s)) return std::unique_ptr<SmsGateway>(std::make_unique<OffGateway>());
  if (s.gateway == "log") return std::unique_ptr<SmsGateway>(std::make_unique<LogGateway>());
  static std::once_flag curl_once;
  static CURLcode curl_rc = CURLE_OK;
  std::call_once(curl_once, [] { curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (curl_rc != CURLE_OK) {
    return fail(Code::kInternal, "internal", "libcurl could not be initialised",
                curl_easy_strerror(curl_rc));
  }
  if (s.gateway == "http") return std::unique_ptr<SmsGateway>(std::make_unique<HttpGateway>(s));
  return std::unique_ptr<SmsGateway>(std::make_unique<TwilioGateway>(s));
}

}  // namespace twostep::services
