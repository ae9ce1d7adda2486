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
  bool peer_trusted = false;  // the peer is in server.trusted_proxies
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

// Writes chunks of a streamed response (server-sent events). Only valid inside the `stream`
// function it was passed to.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Sends one chunk as is (an SSE event must end with "\n\n"). false when the client went
  // away, the write timed out or the server is shutting down: the stream function should
  // then return. A client that leaves is only noticed on a write, so long waits should
  // send a heartbeat comment (": ping\n\n") every ~15 s.
  virtual boost::asio::awaitable<bool> write(std::string_view chunk) = 0;
  // Registers `fn` to run on the stream's executor when the server starts shutting down, so
  // that a stream waiting for events ends at once instead of at its next write. Runs at once
  // if the shutdown has already begun; a later call replaces it; dropped when the stream
  // function returns.
  virtual void on_stop(std::function<void()> fn) { (void)fn; }
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // may repeat (Set-Cookie)
  std::string body;
  // When set, the response is streamed: the server sends the status and headers (no
  // Content-Length, Cache-Control: no-cache, Connection: close), ignores `body`, runs this
  // function, then closes the connection.
  std::function<boost::asio::awaitable<void>(StreamWriter&)> stream;

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
