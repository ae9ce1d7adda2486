#include "twostep/api/json.hpp"

#include <charconv>

#include "twostep/core/text.hpp"

namespace twostep::api {
using core::Code;
using core::fail;

namespace {
tl::unexpected<core::Error> bad_field(const std::string& msg) {
  return fail(Code::kInvalidArgument, "invalid_request", msg);
}
}  // namespace

Result<json> parse_object(const http::Request& req, bool allow_empty) {
  if (req.body.empty() && allow_empty) return json::object();
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/false);
  if (j.is_discarded()) {
    return fail(Code::kInvalidArgument, "invalid_json", "The request body is not valid JSON.");
  }
  if (!j.is_object()) {
    return fail(Code::kInvalidArgument, "invalid_request", "The request body must be a JSON object.");
  }
  return j;
}

Result<std::string> get_string(const json& obj, const char* name, size_t max_len, bool required) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) return bad_field(std::string(name) + ": required.");
    return std::string();
  }
  if (!it->is_string()) return bad_field(std::string(name) + ": expected a string.");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max_len) {
    return bad_field(std::string(name) + ": at most " + std::to_string(max_len) + " bytes.");
  }
  return s;
}

Result<bool> get_bool(const json& obj, const char* name, bool fallback) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return bad_field(std::string(name) + ": expected true or false.");
  return it->get<bool>();
}

Result<std::optional<int64_t>> get_id(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::optional<int64_t>();
  if (it->is_number_integer()) {
    auto v = it->get<int64_t>();
    if (v > 0) return std::optional<int64_t>(v);
  }
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && v > 0) return std::optional<int64_t>(v);
  }
  return bad_field(std::string(name) + ": expected a positive integer id.");
}

Result<int64_t> path_id(const http::Request& req, const char* name) {
  auto it = req.params.find(name);
  if (it != req.params.end()) {
    const auto& s = it->second;
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && v > 0) return v;
  }
  return fail(Code::kNotFound, "not_found", "Not found.");
}

int http_status(Code code) {
  switch (code) {
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kFailedPrecondition: return 409;
    case Code::kPayloadTooLarge: return 413;
    case Code::kResourceExhausted: return 429;
    case Code::kInternal: return 500;
    case Code::kBadGateway: return 502;
    case Code::kUnavailable: return 503;
  }
  return 500;
}

json stored_object(std::string_view text) {
  json parsed = json::parse(core::display_text(text), nullptr, false);
  return parsed.is_object() ? parsed : json::object();
}

http::Response json_response(int status, const json& body) {
  return http::Response::json(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

http::Response error_response(const core::Error& e) {
  int status = http_status(e.code);
  std::string reason = e.reason.empty() ? "internal" : e.reason;
  std::string message = e.message.empty() ? "Something went wrong on our side." : e.message;
  if (status >= 500 && e.code == Code::kUnavailable && e.reason.empty()) {
    reason = "unavailable";
    message = "The service is temporarily unavailable. Try again shortly.";
  }
  auto r = json_response(status, json{{"error", reason}, {"message", message}});
  if (status == 429 || status == 503) {
    r.set("Retry-After", std::to_string(e.retry_after_s > 0 ? e.retry_after_s : 1));
  }
  return r;
}

http::Response overloaded() {
  auto r = json_response(503, json{{"error", "overloaded"},
                                   {"message", "The server is busy. Try again in a moment."}});
  r.set("Retry-After", "1");
  return r;
}

}  // namespace twostep::api
