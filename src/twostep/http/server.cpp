#include "twostep/http/server.hpp"

#include <utility>  // before Asio headers (Boost 1.74)

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <functional>
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
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

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
constexpr std::size_t kMaxReadChunk = 65536;
// Before closing after an error we read (and drop) what the client is still sending, so the
// kernel does not answer it with a reset that would destroy our error response in flight.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 8 * 1024 * 1024;
constexpr std::chrono::milliseconds kDrainPoll{20};
constexpr Clock::time_point kNever = Clock::time_point::max();

auto token(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Method label for metrics: a fixed set, so a client cannot create label values at will.
std::string_view metric_method(std::string_view m) {
  static constexpr std::string_view kKnown[] = {"GET",    "HEAD",    "POST", "PUT",
                                                "DELETE", "OPTIONS", "PATCH"};
  for (std::string_view k : kKnown) {
    if (m == k) {
      return k;
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

void append_number(std::string& out, std::size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

// Serialises the status line and header block into `out`: the handler's headers (checked), the
// security headers it did not set, Server, Connection as HTTP/1.x needs it to say `keep_alive`, and
// Content-Length when given. The same text Beast's serializer wrote, without building a Beast
// message per response.
void serialize_head(std::string& out, const Response& res, unsigned version, bool keep_alive,
                    bool hsts, std::optional<std::size_t> content_length) {
  out.clear();
  out += version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  append_number(out, static_cast<std::size_t>(res.status));
  out += ' ';
  beast::string_view reason = bh::obsolete_reason(bh::int_to_status(res.status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  for (const auto& [name, value] : res.headers) {
    if (!valid_header(name, value)) {
      LOG_ERROR("dropped an invalid response header name=\"" << name << "\"");
      continue;
    }
    if (server_owned(name)) {
      continue;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  append_security_headers(res, hsts, out);
  out += "Server: ";
  out += kServerName;
  out += "\r\n";
  if (version >= 11 && !keep_alive) {
    out += "Connection: close\r\n";
  } else if (version < 11 && keep_alive) {
    out += "Connection: keep-alive\r\n";
  }
  if (content_length) {
    out += "Content-Length: ";
    append_number(out, *content_length);
    out += "\r\n";
  }
  out += "\r\n";
}

std::string address_text(const net::ip::address& a) {
  std::string s = a.to_string();
  return canonical_ip(s).value_or(s);
}

// Parses one request straight into a Request (Beast's HTTP/1 parser, none of its message
// containers): names lower-cased, body bounded by the parser's body_limit.
class RequestParser final : public bh::basic_parser<true> {
 public:
  explicit RequestParser(Request& req) : req_(req) {}

  unsigned version() const { return version_; }
  bool head() const { return head_; }
  bool expects_continue() const { return expect_continue_; }

 private:
  void on_request_impl(bh::verb method, beast::string_view method_str, beast::string_view target,
                       int version, beast::error_code&) override {
    req_.method.assign(method_str.data(), method_str.size());
    req_.target.assign(target.data(), target.size());
    version_ = static_cast<unsigned>(version);
    head_ = method == bh::verb::head;
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(bh::field f, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    std::string lower(name.data(), name.size());
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    req_.headers.emplace_back(std::move(lower), std::string(value.data(), value.size()));
    if (f == bh::field::expect && !expect_seen_) {  // the first Expect header decides
      expect_seen_ = true;
      expect_continue_ = iequals(std::string_view(value.data(), value.size()), "100-continue");
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length) {
      req_.body.reserve(static_cast<std::size_t>(*length));  // within body_limit (checked)
    }
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  Request& req_;
  unsigned version_ = 11;
  bool head_ = false;
  bool expect_seen_ = false;
  bool expect_continue_ = false;
};

// Writes what the socket takes at once (it is non-blocking). Returns what is left to send
// (empty buffers: everything went), or nullopt when the connection failed.
std::optional<std::array<net::const_buffer, 2>> write_now(tcp::socket& socket,
                                                          std::string_view head,
                                                          std::string_view body) {
  std::array<net::const_buffer, 2> bufs{net::buffer(head.data(), head.size()),
                                        net::buffer(body.data(), body.size())};
  beast::error_code ec;
  std::size_t n = socket.write_some(bufs, ec);
  if (ec == net::error::would_block || ec == net::error::try_again) {
    ec = {};
    n = 0;
  }
  if (ec) {
    return std::nullopt;
  }
  if (n < head.size()) {
    bufs[0] += n;
  } else {
    bufs[1] += n - head.size();
    bufs[0] = net::const_buffer();
  }
  return bufs;
}

struct Loop;

// One accepted connection, owned by its session coroutine and touched only on its loop's thread
// (the session, the loop's timeout sweep and the shutdown notices posted to it).
struct Conn {
  Conn(tcp::socket s, Loop& l) : socket(std::move(s)), loop(l) {}
  tcp::socket socket;
  Loop& loop;
  Clock::time_point deadline = kNever;  // the pending read or write fails after this
  bool idle = false;                    // waiting for the first byte of the next request
  bool stop_requested = false;          // server is draining: finish this request, then close
  std::size_t slot = 0;                 // position in loop.conns
  std::string head;                     // response head, reused across keep-alive requests
  std::function<void()> on_stop;        // a running stream's wake-up (StreamWriter::on_stop)
};

// One event loop: a single-threaded io_context with the connections it serves. Sockets never change
// loops, so a connection needs no strand; timeouts are one sweep per loop over its connections'
// deadlines instead of one timer per read and write.
struct Loop {
  std::vector<Conn*> conns;  // declared before io: still alive while io destroys frames
  bool sweeping = false;
  net::io_context io{1};
};

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, const Router& r, core::Metrics& m);

  net::awaitable<void> accept_loop();
  net::awaitable<void> session(tcp::socket sock, Loop& loop);
  net::awaitable<void> serve_stream(Conn& conn, Response& res, unsigned version, bool head,
                                    core::Metrics::RouteSeries& series, std::string_view method,
                                    Clock::time_point start);
  net::awaitable<void> reject(tcp::socket sock, Loop& loop);
  net::awaitable<void> drain();
  net::awaitable<void> sweep(Loop& loop);
  net::awaitable<bool> write_rest(Conn& conn, std::array<net::const_buffer, 2> bufs);
  net::awaitable<bool> send(Conn& conn, std::string_view head, std::string_view body);
  net::awaitable<void> linger_close(Conn& conn);
  void begin_shutdown();
  void enroll(Conn& conn);
  void withdraw(Conn& conn);
  core::Metrics::RouteSeries& series_for(const Router::Match& m);

  // Streamed responses write through send(), with the same deadline as any write.
  class ConnWriter final : public StreamWriter {
   public:
    ConnWriter(Impl& server, Conn& conn) : server_(server), conn_(conn) {}

    net::awaitable<bool> write(std::string_view chunk) override {
      if (!ok_ || conn_.stop_requested || server_.stopping.load()) {
        co_return false;
      }
      ok_ = co_await server_.send(conn_, chunk, {});
      co_return ok_;
    }

    void on_stop(std::function<void()> fn) override {
      if (conn_.stop_requested || server_.stopping.load()) {
        fn();
        return;
      }
      conn_.on_stop = std::move(fn);
    }

   private:
    Impl& server_;
    Conn& conn_;
    bool ok_ = true;
  };

  ServerOptions opts;
  const Router& router;
  core::Metrics& metrics;
  TrustedProxies proxies;
  std::chrono::milliseconds sweep_every;
  // Per route (by Router index), registered once: the request path only bumps atomics.
  std::vector<core::Metrics::RouteSeries*> route_series;
  core::Metrics::RouteSeries& unmatched_series;
  core::Metrics::RouteSeries& fallback_series;

  std::atomic<bool> stopping{false};
  std::atomic<bool> shutdown_started{false};
  std::atomic<int> active{0};
  std::atomic<uint64_t> next_request_id{0};
  std::size_t next_loop = 0;  // on loops[0]: round-robin for accepted sockets

  // Declared after everything the coroutines touch: destroyed first, and destroying them destroys
  // any coroutine frame still suspended in them.
  std::vector<std::unique_ptr<Loop>> loops;
  std::optional<tcp::acceptor> acceptor;   // on loops[0]
  std::optional<net::signal_set> signals;  // on loops[0]
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
};

Server::Impl::Impl(ServerOptions o, const Router& r, core::Metrics& m)
    : opts(std::move(o)),
      router(r),
      metrics(m),
      sweep_every(std::clamp<std::chrono::milliseconds>(
          std::min(opts.read_timeout, opts.idle_timeout) / 20, std::chrono::milliseconds(10),
          std::chrono::milliseconds(250))),
      unmatched_series(m.route("unmatched")),
      fallback_series(m.route("fallback")) {
  for (std::size_t i = 0; i < router.size(); ++i) {
    route_series.push_back(&metrics.route(router.pattern(i)));
  }
  const int n = std::max(1, opts.threads);
  for (int i = 0; i < n; ++i) {
    loops.push_back(std::make_unique<Loop>());
    work.push_back(net::make_work_guard(loops.back()->io));
  }
}

core::Metrics::RouteSeries& Server::Impl::series_for(const Router::Match& m) {
  if (m.handler == nullptr) {
    return unmatched_series;
  }
  if (m.index == Router::kNoRoute) {
    return fallback_series;
  }
  if (m.index < route_series.size()) {
    return *route_series[m.index];
  }
  return metrics.route(std::string(m.pattern));  // a route added after the server was made
}

void Server::Impl::enroll(Conn& conn) {
  Loop& loop = conn.loop;
  conn.slot = loop.conns.size();
  loop.conns.push_back(&conn);
  conn.stop_requested = stopping.load();
  if (!loop.sweeping) {
    loop.sweeping = true;
    net::co_spawn(loop.io, sweep(loop), net::detached);
  }
}

void Server::Impl::withdraw(Conn& conn) {
  auto& conns = conn.loop.conns;
  Conn* last = conns.back();
  conns[conn.slot] = last;
  last->slot = conn.slot;
  conns.pop_back();
}

// Closes the sockets whose pending read or write is past its deadline (what a per-operation timer
// would do), as long as the loop has connections.
net::awaitable<void> Server::Impl::sweep(Loop& loop) {
  net::steady_timer timer(loop.io);
  beast::error_code ec;
  while (!loop.conns.empty()) {
    timer.expires_after(sweep_every);
    co_await timer.async_wait(token(ec));
    const auto now = Clock::now();
    for (Conn* c : loop.conns) {
      if (c->deadline <= now) {
        c->deadline = kNever;
        beast::error_code ignored;
        c->socket.close(ignored);  // the pending operation completes with an error
      }
    }
  }
  loop.sweeping = false;
}

// The slow part of send(): what the socket did not take at once, through the reactor.
net::awaitable<bool> Server::Impl::write_rest(Conn& conn, std::array<net::const_buffer, 2> bufs) {
  beast::error_code ec;
  conn.deadline = Clock::now() + opts.read_timeout;
  co_await net::async_write(conn.socket, bufs, token(ec));
  conn.deadline = kNever;
  co_return !ec;
}

// Sends head + body. Responses are small: the socket (non-blocking) nearly always takes them in one
// call, with no trip through the reactor.
net::awaitable<bool> Server::Impl::send(Conn& conn, std::string_view head, std::string_view body) {
  auto rest = write_now(conn.socket, head, body);
  if (!rest) {
    co_return false;
  }
  if (net::buffer_size(*rest) == 0) {
    co_return true;
  }
  co_return co_await write_rest(conn, *rest);
}

net::awaitable<void> Server::Impl::linger_close(Conn& conn) {
  beast::error_code ec;
  conn.socket.shutdown(tcp::socket::shutdown_send, ec);
  conn.deadline = Clock::now() + kLingerTime;
  std::array<char, 8192> sink;
  std::size_t total = 0;
  while (!ec && total < kLingerBytes) {
    total += co_await conn.socket.async_read_some(net::buffer(sink), token(ec));
  }
  conn.deadline = kNever;
  conn.socket.close(ec);
}

net::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    Loop& loop = *loops[next_loop];
    tcp::socket sock(loop.io);
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
    next_loop = (next_loop + 1) % loops.size();
    if (active.load() >= opts.max_connections) {
      net::co_spawn(loop.io, reject(std::move(sock), loop), net::detached);
      continue;
    }
    active.fetch_add(1);
    net::co_spawn(loop.io, session(std::move(sock), loop), net::detached);
  }
}

net::awaitable<void> Server::Impl::reject(tcp::socket sock, Loop& loop) {
  auto start = Clock::now();
  Conn conn(std::move(sock), loop);
  enroll(conn);
  struct Enrolled {
    Impl* self;
    Conn& conn;
    ~Enrolled() { self->withdraw(conn); }
  } enrolled{this, conn};
  beast::error_code ec;
  conn.socket.non_blocking(true, ec);
  Response res = error_json(503, "overloaded", "The server is busy. Try again shortly.");
  res.set("Retry-After", "1");
  metrics.observe_request(unmatched_series, "unknown", 503, seconds_since(start));
  serialize_head(conn.head, res, 11, false, opts.hsts, res.body.size());
  co_await send(conn, conn.head, res.body);
  co_await linger_close(conn);
}

net::awaitable<void> Server::Impl::session(tcp::socket sock, Loop& loop) {
  Conn conn(std::move(sock), loop);
  enroll(conn);
  struct Enrolled {
    Impl* self;
    Conn& conn;
    ~Enrolled() {
      self->withdraw(conn);
      self->active.fetch_sub(1);
    }
  } enrolled{this, conn};

  tcp::socket& socket = conn.socket;
  beast::error_code ec;
  std::string peer = "unknown";
  if (auto ep = socket.remote_endpoint(ec); !ec) {
    peer = address_text(ep.address());
  }
  socket.set_option(tcp::no_delay(true), ec);
  socket.non_blocking(true, ec);  // send() writes without the reactor first

  beast::flat_buffer buffer;
  bool first = true;
  try {
    while (!conn.stop_requested) {
      // Wait for the next request: read_timeout for the first one, idle_timeout between
      // keep-alive requests; from its first byte a request has read_timeout to arrive whole.
      if (buffer.size() == 0) {
        conn.deadline = Clock::now() + (first ? opts.read_timeout : opts.idle_timeout);
        conn.idle = true;
        std::size_t n = co_await socket.async_read_some(buffer.prepare(kReadChunk), token(ec));
        conn.idle = false;
        conn.deadline = kNever;
        if (ec) {
          break;  // closed by the client, idle timeout, or cancelled by a shutdown
        }
        buffer.commit(n);
      }
      first = false;
      const auto start = Clock::now();
      const auto request_deadline = start + opts.read_timeout;

      Request req;
      RequestParser parser(req);
      parser.body_limit(opts.body_limit);
      parser.header_limit(static_cast<std::uint32_t>(opts.header_limit));
      parser.eager(false);  // stop after the header: Expect: 100-continue is answered first
      // Parse what is buffered, read more while the parser needs it (what Beast's async_read does,
      // without its composed operations).
      for (;;) {
        std::size_t used = 0;
        if (buffer.size() != 0) {
          used = parser.put(buffer.data(), ec);
          buffer.consume(used);
          if (ec == bh::error::need_more) {
            ec = {};
            used = 0;
          } else if (ec) {
            break;
          }
        }
        if (parser.is_done()) {
          break;
        }
        if (parser.is_header_done() && !parser.eager()) {
          if (parser.version() >= 11 && parser.expects_continue()) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            if (!co_await send(conn, kContinue, {})) {
              ec = net::error::broken_pipe;
              break;
            }
          }
          parser.eager(true);
          continue;
        }
        if (used != 0 && buffer.size() != 0) {
          continue;
        }
        const std::size_t size = beast::read_size(buffer, kMaxReadChunk);
        if (size == 0) {
          ec = bh::error::buffer_overflow;
          break;
        }
        conn.deadline = request_deadline;
        std::size_t n = co_await socket.async_read_some(buffer.prepare(size), token(ec));
        conn.deadline = kNever;
        buffer.commit(n);
        if (ec == net::error::eof) {
          ec = {};
          if (parser.got_some()) {
            parser.put_eof(ec);  // an error unless the message ends with the connection
          } else {
            ec = bh::error::end_of_stream;
          }
          break;
        }
        if (ec) {
          break;
        }
      }
      if (ec || !parser.is_done()) {
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
        // Anything else (client gone, read_timeout: the sweep has closed the socket): close.
        if (res) {
          std::string_view method =
              metric_method(parser.is_header_done() ? std::string_view(req.method) : "");
          metrics.observe_request(unmatched_series, method, res->status, seconds_since(start));
          serialize_head(conn.head, *res, 11, false, opts.hsts, res->body.size());
          if (co_await send(conn, conn.head, res->body)) {
            co_await linger_close(conn);
          }
        }
        break;
      }

      req.id = next_request_id.fetch_add(1, std::memory_order_relaxed) + 1;
      const bool head = parser.head();
      const unsigned version = parser.version();
      bool keep_alive = parser.keep_alive();
      if (req.target.empty() || req.target.front() != '/') {
        // Absolute-form or "*": nothing here serves those.
        Response res = error_json(400, "bad_request", "The request target must be a path.");
        metrics.observe_request(unmatched_series, metric_method(req.method), 400,
                                seconds_since(start));
        serialize_head(conn.head, res, version, false, opts.hsts, res.body.size());
        co_await send(conn, conn.head, head ? std::string_view() : std::string_view(res.body));
        break;
      }
      std::string_view target = req.target;
      const std::size_t q = target.find('?');
      req.path = percent_decode(target.substr(0, q), false);
      if (q != std::string_view::npos) {
        req.query.assign(target.substr(q + 1));
      }
      req.peer_addr = peer;
      if (proxies.empty()) {
        req.client_addr = peer;
      } else {
        std::vector<std::string_view> forwarded;
        for (const auto& [name, value] : req.headers) {
          if (name == "x-forwarded-for") {
            forwarded.push_back(value);
          }
        }
        req.client_addr = proxies.client_address(peer, forwarded);
        req.peer_trusted = proxies.contains(peer);
      }

      Router::Match m = router.match(req.method, req.path);
      core::Metrics::RouteSeries& series = series_for(m);
      Response res;
      if (m.handler != nullptr) {
        req.params = std::move(m.params);
        req.route.assign(m.pattern);
        try {
          res = co_await (*m.handler)(req);
        } catch (const std::exception& e) {
          LOG_ERROR("request failed request_id=" << req.id << " method=" << req.method << " route="
                                                 << m.pattern << " error=\"" << e.what() << "\"");
          res = error_json(500, "internal", "Something went wrong on our side.");
        } catch (...) {
          LOG_ERROR("request failed request_id=" << req.id << " method=" << req.method
                                                 << " route=" << m.pattern << " error=unknown");
          res = error_json(500, "internal", "Something went wrong on our side.");
        }
      } else if (m.status == 405) {
        res = error_json(405, "method_not_allowed", "This method is not allowed here.");
        res.set("Allow", m.allow);
      } else {
        res = error_json(404, "not_found", "No such resource.");
      }
      if (res.status < 100 || res.status > 999) {
        LOG_ERROR("handler answered an invalid status request_id=" << req.id
                                                                   << " status=" << res.status);
        res = error_json(500, "internal", "Something went wrong on our side.");
      }

      if (res.stream) {
        co_await serve_stream(conn, res, version, head, series, metric_method(req.method), start);
        break;
      }
      // While draining, answer this request and close: no new keep-alive requests.
      keep_alive = keep_alive && !conn.stop_requested && !stopping.load();
      // Recorded before the write, so a client that has its answer also finds it in /metrics;
      // the latency is the time to produce the response.
      metrics.observe_request(series, metric_method(req.method), res.status, seconds_since(start));
      LOG_DEBUG("request request_id=" << req.id << " method=" << req.method
                                      << " route=" << (m.handler ? m.pattern : "unmatched")
                                      << " status=" << res.status);
      std::optional<std::size_t> length;
      if (no_body_status(res.status)) {
        res.body.clear();
      } else {
        length = res.body.size();
      }
      serialize_head(conn.head, res, version, keep_alive, opts.hsts, length);
      // send() without its coroutine frame for the usual case: all written at once.
      auto rest =
          write_now(socket, conn.head, head ? std::string_view() : std::string_view(res.body));
      if (!rest) {
        break;
      }
      if (net::buffer_size(*rest) != 0 && !co_await write_rest(conn, *rest)) {
        break;
      }
      if (!keep_alive) {
        break;
      }
    }
  } catch (const std::exception& e) {
    LOG_ERROR("connection failed peer=" << peer << " error=\"" << e.what() << "\"");
  }
  if (socket.is_open()) {
    socket.shutdown(tcp::socket::shutdown_send, ec);
    socket.close(ec);
  }
}

// Sends the header block, then lets the handler write chunks; the body ends when the
// connection closes (Connection: close, no Content-Length).
net::awaitable<void> Server::Impl::serve_stream(Conn& conn, Response& res, unsigned version,
                                                bool head, core::Metrics::RouteSeries& series,
                                                std::string_view method, Clock::time_point start) {
  res.set("Cache-Control", "no-cache");
  res.set("X-Accel-Buffering", "no");  // nginx: pass events through as they come
  serialize_head(conn.head, res, version, false, opts.hsts, std::nullopt);
  metrics.observe_request(series, method, res.status, seconds_since(start));
  if (!co_await send(conn, conn.head, {}) || head) {
    co_return;
  }
  ConnWriter writer(*this, conn);
  try {
    co_await res.stream(writer);
  } catch (const std::exception& e) {
    LOG_ERROR("stream failed error=\"" << e.what() << "\"");
  }
  conn.on_stop = nullptr;  // it points into the finished stream's frame
}

void Server::Impl::begin_shutdown() {  // on loops[0]
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
  stopping = true;
  // Idle keep-alive connections close now; busy ones finish their request first.
  for (auto& l : loops) {
    Loop* loop = l.get();
    net::post(loop->io, [loop] {
      for (Conn* c : loop->conns) {
        c->stop_requested = true;
        if (c->idle) {
          beast::error_code ignored;
          c->socket.cancel(ignored);
        }
        if (c->on_stop) {
          auto wake = std::move(c->on_stop);
          c->on_stop = nullptr;
          wake();
        }
      }
    });
  }
  net::co_spawn(loops[0]->io, drain(), net::detached);
}

net::awaitable<void> Server::Impl::drain() {
  const auto deadline = Clock::now() + opts.shutdown_grace;
  net::steady_timer timer(loops[0]->io);
  beast::error_code ec;
  while (active.load() > 0 && Clock::now() < deadline) {
    timer.expires_after(kDrainPoll);
    co_await timer.async_wait(token(ec));
  }
  if (active.load() > 0) {
    LOG_WARN("shutdown grace over, closing connections=" << active.load());
    for (auto& l : loops) {
      Loop* loop = l.get();
      net::post(loop->io, [loop] {
        for (Conn* c : loop->conns) {
          beast::error_code ignored;
          c->socket.close(ignored);
        }
      });
    }
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(token(ec));
  }
  for (auto& w : work) {
    w.reset();
  }
  for (auto& l : loops) {
    l->io.stop();
  }
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

  net::io_context& io = s.loops[0]->io;
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
    tcp::resolver resolver(io);
    auto results = resolver.resolve(h, std::to_string(port), ec);
    if (ec || results.empty()) {
      return core::fail(
          core::Code::kInvalidArgument, "invalid_listen_address",
          "cannot resolve listen address " + where + (ec ? ": " + ec.message() : std::string()));
    }
    ep = results.begin()->endpoint();
  }

  tcp::acceptor acc(io);
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
  net::co_spawn(io, s.accept_loop(), net::detached);
  // SIGTERM/SIGINT are caught from here on, before the caller announces the address: a signal
  // that arrives between "listening on" and run() waits in the signal set and drains the
  // server as soon as the loops run, instead of killing the process with the default action.
  if (!s.signals) {
    s.signals.emplace(s.loops[0]->io, SIGINT, SIGTERM);
    s.signals->async_wait([&s](const beast::error_code& ec, int signo) {
      if (!ec) {
        LOG_INFO("signal received signal=" << signo);
        s.begin_shutdown();
      }
    });
  }

  std::string a = local.address().to_string();
  if (local.address().is_v6()) {
    a = "[" + a + "]";
  }
  return a + ":" + std::to_string(local.port());
}

void Server::run() {
  Impl& s = *impl_;
  auto run_io = [](net::io_context& io) {
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        LOG_ERROR("event loop error=\"" << e.what() << "\"");
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < s.loops.size(); ++i) {
    threads.emplace_back(run_io, std::ref(s.loops[i]->io));
  }
  run_io(s.loops[0]->io);
  for (auto& t : threads) {
    t.join();
  }
}

void Server::stop() {
  Impl* s = impl_.get();
  net::post(s->loops[0]->io, [s] { s->begin_shutdown(); });
}

net::io_context& Server::io() { return impl_->loops[0]->io; }

int Server::active_connections() const { return impl_->active.load(); }

}  // namespace twostep::http
