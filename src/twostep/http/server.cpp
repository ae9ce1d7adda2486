#include "twostep/http/server.hpp"

#include <utility>  // before Asio headers (Boost 1.74)

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "twostep/core/log.hpp"
#include "twostep/http/headers.hpp"

namespace twostep::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 4096;
// Before closing after an error we read (and drop) what the client is still sending, so the
// kernel does not answer it with a reset that would destroy our error response in flight.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 8 * 1024 * 1024;
constexpr std::chrono::milliseconds kDrainPoll{20};

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

auto token(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Method label for metrics: a fixed set, so a client cannot create label values at will.
std::string metric_method(std::string_view m) {
  static constexpr std::string_view kKnown[] = {"GET",    "HEAD",    "POST", "PUT",
                                                "DELETE", "OPTIONS", "PATCH"};
  for (std::string_view k : kKnown) {
    if (m == k) {
      return std::string(k);
    }
  }
  return m.empty() ? "unknown" : "other";
}

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Handlers are trusted, but a header value built from user input must never split the
// response.
bool valid_header(std::string_view name, std::string_view value) {
  if (name.empty()) {
    return false;
  }
  for (char c : name) {
    if (!is_token_char(c)) {
      return false;
    }
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers the server owns: a handler's value for these is ignored.
bool server_owned(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection") || iequals(name, "server") || iequals(name, "keep-alive");
}

Response error_json(int status, std::string_view code, std::string_view message) {
  return Response::json(status, "{\"error\":\"" + std::string(code) + "\",\"message\":\"" +
                                    std::string(message) + "\"}");
}

bool no_body_status(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

template <class Body>
void copy_headers(bh::response<Body>& out, const Response& res) {
  for (const auto& [name, value] : res.headers) {
    if (!valid_header(name, value)) {
      LOG_ERROR("dropped an invalid response header name=\"" << name << "\"");
      continue;
    }
    if (server_owned(name)) {
      continue;
    }
    out.insert(beast::string_view(name.data(), name.size()),
               beast::string_view(value.data(), value.size()));
  }
  out.set(bh::field::server, beast::string_view(kServerName.data(), kServerName.size()));
}

// Writes a complete (non-streamed) response. Fills in security headers and Content-Length.
net::awaitable<bool> write_response(beast::tcp_stream& stream, Response& res, unsigned version,
                                    bool head, bool keep_alive, bool hsts,
                                    std::chrono::seconds timeout) {
  apply_security_headers(res, hsts);
  bh::response<bh::string_body> out;
  out.result(static_cast<unsigned>(res.status));
  out.version(version);
  copy_headers(out, res);
  out.keep_alive(keep_alive);
  if (no_body_status(res.status)) {
    res.body.clear();
  } else {
    out.content_length(res.body.size());
  }
  out.body() = std::move(res.body);

  beast::error_code ec;
  stream.expires_after(timeout);
  if (head) {
    bh::response_serializer<bh::string_body> sr{out};
    co_await bh::async_write_header(stream, sr, token(ec));
  } else {
    co_await bh::async_write(stream, out, token(ec));
  }
  co_return !ec;
}

net::awaitable<void> linger_close(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(kLingerTime);
  std::array<char, 8192> sink;
  std::size_t total = 0;
  while (!ec && total < kLingerBytes) {
    total += co_await stream.async_read_some(net::buffer(sink), token(ec));
  }
  stream.close();
}

void graceful_close(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
}

std::string address_text(const net::ip::address& a) {
  std::string s = a.to_string();
  return canonical_ip(s).value_or(s);
}

// One accepted connection. Touched only on its own strand (the session coroutine and the
// shutdown notices posted to it); the registry only holds a pointer.
struct Conn {
  explicit Conn(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool idle = false;            // waiting for the first byte of the next request
  bool stop_requested = false;  // server is draining: finish this request, then close
  std::function<void()> on_stop;  // a running stream's wake-up (StreamWriter::on_stop)
};

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, const Router& r, core::Metrics& m)
      : opts(std::move(o)),
        router(r),
        metrics(m),
        io(opts.threads > 1 ? opts.threads : 1),
        control(net::make_strand(io)),
        work(io.get_executor()) {}

  net::awaitable<void> accept_loop();
  net::awaitable<void> session(std::shared_ptr<Conn> conn);
  net::awaitable<bool> serve(Conn& conn, bh::request<bh::string_body>& msg, const std::string& peer,
                             Clock::time_point start);
  net::awaitable<void> serve_stream(Conn& conn, Response& res, unsigned version, bool head,
                                    const std::string& route, const std::string& method,
                                    Clock::time_point start);
  net::awaitable<void> reject(tcp::socket sock);
  net::awaitable<void> drain();
  void begin_shutdown();
  std::vector<std::shared_ptr<Conn>> snapshot();

  ServerOptions opts;
  const Router& router;
  core::Metrics& metrics;
  TrustedProxies proxies;

  std::mutex mu;
  std::map<uint64_t, std::shared_ptr<Conn>> conns;  // guarded by mu
  uint64_t next_conn = 0;                           // guarded by mu
  bool stopping = false;                            // guarded by mu
  std::atomic<bool> stopping_flag{false};
  std::atomic<bool> shutdown_started{false};
  std::atomic<int> active{0};
  std::atomic<uint64_t> next_request_id{0};

  // Declared after everything the coroutines touch: destroyed first, and destroying it
  // destroys any coroutine frame still suspended in it.
  net::io_context io;
  net::strand<net::io_context::executor_type> control;  // acceptor, signals, shutdown
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::signal_set> signals;
  net::executor_work_guard<net::io_context::executor_type> work;
};

class ConnWriter final : public StreamWriter {
 public:
  ConnWriter(Conn& conn, const std::atomic<bool>& stopping, std::chrono::seconds timeout)
      : conn_(conn), stopping_(stopping), timeout_(timeout) {}

  net::awaitable<bool> write(std::string_view chunk) override {
    if (!ok_ || conn_.stop_requested || stopping_.load()) {
      co_return false;
    }
    beast::error_code ec;
    conn_.stream.expires_after(timeout_);
    co_await net::async_write(conn_.stream, net::buffer(chunk.data(), chunk.size()), token(ec));
    ok_ = !ec;
    co_return ok_;
  }

  void on_stop(std::function<void()> fn) override {
    if (conn_.stop_requested || stopping_.load()) {
      fn();
      return;
    }
    conn_.on_stop = std::move(fn);
  }

 private:
  Conn& conn_;
  const std::atomic<bool>& stopping_;
  std::chrono::seconds timeout_;
  bool ok_ = true;
};

std::vector<std::shared_ptr<Conn>> Server::Impl::snapshot() {
  std::lock_guard lock(mu);
  std::vector<std::shared_ptr<Conn>> out;
  out.reserve(conns.size());
  for (const auto& [id, c] : conns) {
    out.push_back(c);
  }
  return out;
}

net::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    tcp::socket sock(net::make_strand(io));
    beast::error_code ec;
    co_await acceptor->async_accept(sock, token(ec));
    if (ec) {
      if (shutdown_started.load() || ec == net::error::operation_aborted || !acceptor->is_open()) {
        co_return;
      }
      // Out of file descriptors and the like: back off instead of spinning.
      LOG_WARN("accept failed error=\"" << ec.message() << "\"");
      net::steady_timer t(co_await net::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(100));
      co_await t.async_wait(token(ec));
      continue;
    }
    if (active.load() >= opts.max_connections) {
      auto ex = sock.get_executor();
      net::co_spawn(ex, reject(std::move(sock)), net::detached);
      continue;
    }
    active.fetch_add(1);
    auto conn = std::make_shared<Conn>(std::move(sock));
    auto ex = conn->stream.get_executor();
    net::co_spawn(ex, session(std::move(conn)), net::detached);
  }
}

net::awaitable<void> Server::Impl::reject(tcp::socket sock) {
  auto start = Clock::now();
  beast::tcp_stream stream(std::move(sock));
  Response res = error_json(503, "overloaded", "The server is busy. Try again shortly.");
  res.set("Retry-After", "1");
  metrics.observe_request("unmatched", "unknown", 503, seconds_since(start));
  co_await write_response(stream, res, 11, false, false, opts.hsts, opts.read_timeout);
  co_await linger_close(stream);
}

net::awaitable<void> Server::Impl::session(std::shared_ptr<Conn> conn) {
  uint64_t conn_id = 0;
  {
    std::lock_guard lock(mu);
    conn_id = next_conn++;
    conns.emplace(conn_id, conn);
    conn->stop_requested = stopping;
  }
  struct Registration {
    Impl* self;
    uint64_t id;
    ~Registration() {
      {
        std::lock_guard lock(self->mu);
        self->conns.erase(id);
      }
      self->active.fetch_sub(1);
    }
  } registration{this, conn_id};

  beast::tcp_stream& stream = conn->stream;
  beast::error_code ec;
  std::string peer = "unknown";
  if (auto ep = stream.socket().remote_endpoint(ec); !ec) {
    peer = address_text(ep.address());
  }
  stream.socket().set_option(tcp::no_delay(true), ec);

  beast::flat_buffer buffer;
  bool first = true;
  try {
    for (;;) {
      if (conn->stop_requested) {
        break;
      }
      // Wait for the next request: read_timeout for the first one, idle_timeout between
      // keep-alive requests; from its first byte a request has read_timeout to arrive whole.
      if (buffer.size() == 0) {
        stream.expires_after(first ? opts.read_timeout : opts.idle_timeout);
        conn->idle = true;
        std::size_t n = co_await stream.async_read_some(buffer.prepare(kReadChunk), token(ec));
        conn->idle = false;
        if (ec) {
          break;  // closed by the client, idle timeout, or cancelled by a shutdown
        }
        buffer.commit(n);
        if (!first) {
          stream.expires_after(opts.read_timeout);
        }
      } else {
        stream.expires_after(opts.read_timeout);  // pipelined request already buffered
      }
      first = false;
      const auto start = Clock::now();

      bh::request_parser<bh::string_body> parser;
      parser.body_limit(opts.body_limit);
      parser.header_limit(static_cast<std::uint32_t>(opts.header_limit));
      co_await bh::async_read_header(stream, buffer, parser, token(ec));
      if (!ec && parser.get().version() >= 11 &&
          iequals(sv(parser.get()[bh::field::expect]), "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(kContinue.data(), kContinue.size()),
                                  token(ec));
      }
      if (!ec && !parser.is_done()) {
        co_await bh::async_read(stream, buffer, parser, token(ec));
      }
      if (ec) {
        std::optional<Response> res;
        if (ec == bh::error::body_limit) {
          res = error_json(413, "body_too_large", "The request body is too large.");
        } else if (ec == bh::error::header_limit || ec == bh::error::buffer_overflow) {
          res = error_json(431, "headers_too_large", "The request headers are too large.");
        } else if (ec.category() == bh::make_error_code(bh::error::bad_method).category() &&
                   ec != bh::error::end_of_stream && ec != bh::error::partial_message &&
                   ec != bh::error::short_read) {
          res = error_json(400, "bad_request", "The request is not valid HTTP.");
        }
        // Anything else (client gone, read_timeout: the stream has closed the socket): close.
        if (res) {
          std::string method = metric_method(
              parser.is_header_done() ? sv(parser.get().method_string()) : std::string_view());
          metrics.observe_request("unmatched", method, res->status, seconds_since(start));
          co_await write_response(stream, *res, 11, false, false, opts.hsts, opts.read_timeout);
          co_await linger_close(stream);
        }
        break;
      }
      bh::request<bh::string_body> msg = parser.release();
      if (!co_await serve(*conn, msg, peer, start)) {
        break;
      }
    }
  } catch (const std::exception& e) {
    LOG_ERROR("connection failed peer=" << peer << " error=\"" << e.what() << "\"");
  }
  if (stream.socket().is_open()) {
    graceful_close(stream);
  }
}

// Answers one request; false when the connection must close afterwards.
net::awaitable<bool> Server::Impl::serve(Conn& conn, bh::request<bh::string_body>& msg,
                                         const std::string& peer, Clock::time_point start) {
  Request req;
  req.id = next_request_id.fetch_add(1) + 1;
  req.method = std::string(sv(msg.method_string()));
  req.target = std::string(sv(msg.target()));
  const bool head = msg.method() == bh::verb::head;
  const unsigned version = msg.version();
  bool keep_alive = msg.keep_alive();

  if (req.target.empty() || req.target.front() != '/') {
    // Absolute-form or "*": nothing here serves those.
    Response res = error_json(400, "bad_request", "The request target must be a path.");
    metrics.observe_request("unmatched", metric_method(req.method), 400, seconds_since(start));
    co_await write_response(conn.stream, res, version, head, false, opts.hsts, opts.read_timeout);
    co_return false;
  }
  std::string_view target = req.target;
  std::size_t q = target.find('?');
  req.path = percent_decode(target.substr(0, q), false);
  if (q != std::string_view::npos) {
    req.query = std::string(target.substr(q + 1));
  }
  std::vector<std::string_view> forwarded;
  req.headers.reserve(std::distance(msg.begin(), msg.end()));
  for (const auto& field : msg) {
    std::string name(sv(field.name_string()));
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    req.headers.emplace_back(std::move(name), std::string(sv(field.value())));
  }
  for (const auto& [name, value] : req.headers) {
    if (name == "x-forwarded-for") {
      forwarded.push_back(value);
    }
  }
  req.peer_addr = peer;
  req.client_addr = proxies.client_address(peer, forwarded);
  req.body = std::move(msg.body());

  Router::Match m = router.match(req.method, req.path);
  std::string route = "unmatched";
  Response res;
  if (m.handler != nullptr) {
    route = m.pattern;
    req.params = std::move(m.params);
    req.route = m.pattern;
    try {
      res = co_await (*m.handler)(req);
    } catch (const std::exception& e) {
      LOG_ERROR("request failed request_id=" << req.id << " method=" << req.method << " route="
                                             << route << " error=\"" << e.what() << "\"");
      res = error_json(500, "internal", "Something went wrong on our side.");
    } catch (...) {
      LOG_ERROR("request failed request_id=" << req.id << " method=" << req.method
                                             << " route=" << route << " error=unknown");
      res = error_json(500, "internal", "Something went wrong on our side.");
    }
  } else if (m.status == 405) {
    res = error_json(405, "method_not_allowed", "This method is not allowed here.");
    res.set("Allow", m.allow);
  } else {
    res = error_json(404, "not_found", "No such resource.");
  }

  if (res.stream) {
    co_await serve_stream(conn, res, version, head, route, req.method, start);
    co_return false;
  }
  // While draining, answer this request and close: no new keep-alive requests.
  keep_alive = keep_alive && !conn.stop_requested && !stopping_flag.load();
  // Recorded before the write, so a client that has its answer also finds it in /metrics;
  // the latency is the time to produce the response.
  metrics.observe_request(route, metric_method(req.method), res.status, seconds_since(start));
  LOG_DEBUG("request request_id=" << req.id << " method=" << req.method << " route=" << route
                                  << " status=" << res.status);
  bool ok = co_await write_response(conn.stream, res, version, head, keep_alive, opts.hsts,
                                    opts.read_timeout);
  co_return ok&& keep_alive;
}

// Sends the header block, then lets the handler write chunks; the body ends when the
// connection closes (Connection: close, no Content-Length).
net::awaitable<void> Server::Impl::serve_stream(Conn& conn, Response& res, unsigned version,
                                                bool head, const std::string& route,
                                                const std::string& method,
                                                Clock::time_point start) {
  apply_security_headers(res, opts.hsts);
  res.set("Cache-Control", "no-cache");
  res.set("X-Accel-Buffering", "no");  // nginx: pass events through as they come
  bh::response<bh::empty_body> out;
  out.result(static_cast<unsigned>(res.status));
  out.version(version);
  copy_headers(out, res);
  out.keep_alive(false);

  beast::error_code ec;
  conn.stream.expires_after(opts.read_timeout);
  bh::response_serializer<bh::empty_body> sr{out};
  metrics.observe_request(route, metric_method(method), res.status, seconds_since(start));
  co_await bh::async_write_header(conn.stream, sr, token(ec));
  if (ec || head) {
    co_return;
  }
  conn.stream.expires_never();
  ConnWriter writer(conn, stopping_flag, opts.read_timeout);
  try {
    co_await res.stream(writer);
  } catch (const std::exception& e) {
    LOG_ERROR("stream failed route=" << route << " error=\"" << e.what() << "\"");
  }
  conn.on_stop = nullptr;  // it points into the finished stream's frame
}

void Server::Impl::begin_shutdown() {  // on `control`
  if (shutdown_started.exchange(true)) {
    return;
  }
  LOG_INFO("shutting down connections=" << active.load());
  beast::error_code ec;
  if (acceptor) {
    acceptor->close(ec);
  }
  if (signals) {
    signals->cancel(ec);
  }
  {
    std::lock_guard lock(mu);
    stopping = true;
    stopping_flag = true;
  }
  // Idle keep-alive connections close now; busy ones finish their request first.
  for (auto& c : snapshot()) {
    net::post(c->stream.get_executor(), [c] {
      c->stop_requested = true;
      if (c->idle) {
        c->stream.cancel();
      }
      if (c->on_stop) {
        auto wake = std::move(c->on_stop);
        c->on_stop = nullptr;
        wake();
      }
    });
  }
  net::co_spawn(control, drain(), net::detached);
}

net::awaitable<void> Server::Impl::drain() {
  const auto deadline = Clock::now() + opts.shutdown_grace;
  net::steady_timer timer(control);
  beast::error_code ec;
  while (active.load() > 0 && Clock::now() < deadline) {
    timer.expires_after(kDrainPoll);
    co_await timer.async_wait(token(ec));
  }
  if (active.load() > 0) {
    LOG_WARN("shutdown grace over, closing connections=" << active.load());
    for (auto& c : snapshot()) {
      net::post(c->stream.get_executor(), [c] { c->stream.close(); });
    }
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(token(ec));
  }
  work.reset();
  io.stop();
}

Server::Server(ServerOptions opts, const Router& router, core::Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(opts), router, metrics)) {}

Server::~Server() = default;

core::Result<std::string> Server::listen(const std::string& host, uint16_t port) {
  Impl& s = *impl_;
  const std::string where = host + ":" + std::to_string(port);
  if (s.acceptor) {
    return core::fail(core::Code::kFailedPrecondition, "already_listening",
                      "the server already listens");
  }
  auto proxies = TrustedProxies::parse(s.opts.trusted_proxies);
  if (!proxies) {
    return tl::unexpected(proxies.error());
  }
  s.proxies = std::move(*proxies);

  beast::error_code ec;
  tcp::endpoint ep;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  net::ip::address addr = net::ip::make_address(h, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, port);
  } else {
    tcp::resolver resolver(s.io);
    auto results = resolver.resolve(h, std::to_string(port), ec);
    if (ec || results.empty()) {
      return core::fail(
          core::Code::kInvalidArgument, "invalid_listen_address",
          "cannot resolve listen address " + where + (ec ? ": " + ec.message() : std::string()));
    }
    ep = results.begin()->endpoint();
  }

  tcp::acceptor acc(s.control);
  auto failed = [&](const char* step) {
    return core::fail(
        core::Code::kUnavailable, "listen_failed",
        std::string("cannot listen on ") + where + " (" + step + "): " + ec.message());
  };
  if (acc.open(ep.protocol(), ec); ec) {
    return failed("open");
  }
  if (acc.set_option(net::socket_base::reuse_address(true), ec); ec) {
    return failed("reuse_address");
  }
  if (acc.bind(ep, ec); ec) {
    return failed("bind");
  }
  if (acc.listen(net::socket_base::max_listen_connections, ec); ec) {
    return failed("listen");
  }
  tcp::endpoint local = acc.local_endpoint(ec);
  if (ec) {
    return failed("local_endpoint");
  }
  s.acceptor.emplace(std::move(acc));
  net::co_spawn(s.control, s.accept_loop(), net::detached);

  std::string a = local.address().to_string();
  if (local.address().is_v6()) {
    a = "[" + a + "]";
  }
  return a + ":" + std::to_string(local.port());
}

void Server::run() {
  Impl& s = *impl_;
  s.signals.emplace(s.control, SIGINT, SIGTERM);
  s.signals->async_wait([&s](const beast::error_code& ec, int signo) {
    if (!ec) {
      LOG_INFO("signal received signal=" << signo);
      s.begin_shutdown();
    }
  });
  auto run_io = [&s] {
    for (;;) {
      try {
        s.io.run();
        return;
      } catch (const std::exception& e) {
        LOG_ERROR("event loop error=\"" << e.what() << "\"");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < s.opts.threads; ++i) {
    threads.emplace_back(run_io);
  }
  run_io();
  for (auto& t : threads) {
    t.join();
  }
}

void Server::stop() {
  Impl* s = impl_.get();
  net::post(s->control, [s] { s->begin_shutdown(); });
}

net::io_context& Server::io() { return impl_->io; }

int Server::active_connections() const { return impl_->active.load(); }

}  // namespace twostep::http
