// The HTTP/1.1 server: one coroutine per connection (Beast over Asio), timeouts and size
// limits, routing through a Router, security headers, metrics, and a graceful drain on
// SIGINT/SIGTERM or stop(). TLS is terminated in front (nginx).
#pragma once

#include <utility>  // before Asio headers (Boost 1.74)

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "twostep/core/error.hpp"
#include "twostep/core/metrics.hpp"
#include "twostep/http/router.hpp"

namespace twostep::http {

struct ServerOptions {
  int threads = 1;                        // event loops, one thread each
  std::size_t body_limit = 64 * 1024;     // larger -> 413 body_too_large
  std::size_t header_limit = 8 * 1024;    // larger -> 431 headers_too_large
  std::chrono::seconds read_timeout{10};  // a whole request must arrive within this
  std::chrono::seconds idle_timeout{60};  // keep-alive idle between requests
  int max_connections = 10000;            // beyond: 503 and close
  std::chrono::seconds shutdown_grace{10};
  std::vector<std::string> trusted_proxies;  // addresses or CIDR ranges
  bool hsts = false;  // Strict-Transport-Security: max-age=31536000; includeSubDomains
};

class Server {
 public:
  // `router` and `metrics` must outlive the server.
  Server(ServerOptions opts, const Router& router, core::Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (port 0 = pick a free one). Returns the bound endpoint as "ADDR:PORT"
  // ("[::1]:PORT" for IPv6). Also fails on invalid trusted_proxies.
  core::Result<std::string> listen(const std::string& host, uint16_t port);
  // Runs the io threads until stop() or SIGINT/SIGTERM: stop accepting, let in-flight
  // requests finish (at most shutdown_grace), then return.
  void run();
  // Thread-safe; same drain behaviour. May be called before run().
  void stop();
  // The first event loop, for timers and other coroutines (e.g. event waits).
  boost::asio::io_context& io();
  int active_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace twostep::http
