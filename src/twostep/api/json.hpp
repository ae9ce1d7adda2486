// Request-body parsing and error replies shared by every handler: a body must be one JSON
// object; each field is read with its expected type and size, and anything else is a 400
// that names the field.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "twostep/core/error.hpp"
#include "twostep/http/message.hpp"

namespace twostep::api {

using nlohmann::json;
using core::Result;

// Parses the body as a JSON object (an empty body is an empty object when allow_empty).
Result<json> parse_object(const http::Request& req, bool allow_empty = false);

// Field readers: missing required → "<name>: required"; wrong type → "<name>: expected ...".
Result<std::string> get_string(const json& obj, const char* name, size_t max_len,
                               bool required = true);
Result<bool> get_bool(const json& obj, const char* name, bool fallback);
Result<std::optional<int64_t>> get_id(const json& obj, const char* name);
Result<int64_t> path_id(const http::Request& req, const char* name);

// {"error","message"} with the status for the code (the one mapping of codes to statuses).
http::Response error_response(const core::Error& e);
int http_status(core::Code code);
http::Response json_response(int status, const json& body);
http::Response overloaded();

// A JSON object the store keeps as text (an audit entry's detail), for a reply: bytes that are not
// UTF-8 (SQLite keeps whatever was written) become U+FFFD rather than losing the whole object;
// text that is not a JSON object at all becomes {}.
json stored_object(std::string_view text);

}  // namespace twostep::api
