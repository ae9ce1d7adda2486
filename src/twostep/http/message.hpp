// The HTTP request and response as handlers see them: plain structs with no Beast types, so
// that only the server's own files include Beast. Handlers are coroutines: request in,
// response out; they never touch the socket.
#pragma once

#include <utility>  // before Asio headers (Boost 1.74)

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

namespace twostep::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/api/v1/x?y=1"
  std::string path;    // percent-decoded path without the query
  std::string query;   // raw query string without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string peer_addr;    // TCP peer
  std::string client_addr;  // peer, or X-Forwarded-For when the peer is a trusted proxy
  std::map<std::string, std::string> params;  // path parameters: "/x/{id}" -> params["id"]
  std::string route;  // the pattern that matched ("/api/v1/sessions/{id}"), for metrics
  uint64_t id = 0;    // request id, for logs

  // First header with this (case-insensitive) name.
  std::optional<std::string_view> header(std::string_view name) const;
  // Cookie value from the Cookie header(s).
  std::optional<std::string> cookie(std::string_view name) const;
  // Percent-decoded query parameter.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // may repeat (Set-Cookie)
  std::string body;

  // Replaces any header of that name.
  void set(std::string_view name, std::string value);
  // Appends (for headers that may repeat).
  void add(std::string name, std::string value);
  std::optional<std::string_view> get(std::string_view name) const;

  static Response json(int status, std::string body);
  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

std::string percent_decode(std::string_view s, bool plus_as_space);
bool iequals(std::string_view a, std::string_view b);

}  // namespace twostep::http
