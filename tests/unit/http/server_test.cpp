#include "twostep/http/server.hpp"

#include <utility>  // before Asio headers (Boost 1.74)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "twostep/http/pool.hpp"

namespace twostep::http {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has(const std::string& n) const { return headers.count(n) > 0; }
};

// A plain blocking client over POSIX sockets, so that the test shares nothing with the
// server's machinery. Every read gives up after a deadline, so a bug cannot hang the suite.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  bool connected() const { return connected_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads more bytes into the buffer; false on EOF, error or timeout.
  bool fill(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  std::optional<HttpReply> read_response(bool head = false,
                                         std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) {
        return std::nullopt;
      }
    }
    std::string head_block = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    HttpReply r;
    size_t line_end = head_block.find("\r\n");
    std::string status_line = head_block.substr(0, line_end);
    if (status_line.size() < 12) {
      return std::nullopt;
    }
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head_block.size() : line_end + 2;
    while (pos < head_block.size()) {
      size_t e = head_block.find("\r\n", pos);
      if (e == std::string::npos) {
        e = head_block.size();
      }
      std::string line = head_block.substr(pos, e - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.erase(0, 1);
      }
      r.headers[name] = value;
      pos = e + 2;
    }
    if (head || r.status == 204) {
      return r;
    }
    if (r.has("content-length")) {
      size_t len = std::stoul(r.header("content-length"));
      while (buf_.size() < len) {
        if (!fill(deadline)) {
          return std::nullopt;
        }
      }
      r.body = buf_.substr(0, len);
      buf_.erase(0, len);
    } else {
      while (fill(deadline)) {
      }
      if (!eof_) {
        return std::nullopt;
      }
      r.body = std::move(buf_);
      buf_.clear();
    }
    return r;
  }

  // True when the server closes the connection (EOF or reset) before the deadline.
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (fill(deadline)) {
    }
    return eof_ || Clock::now() < deadline;
  }

  std::string& buffered() { return buf_; }

  // Reads until `needle` has arrived; false on EOF or timeout first.
  bool fill_until(std::string_view needle, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (buf_.find(needle) == std::string::npos) {
      if (!fill(deadline)) {
        return false;
      }
    }
    return true;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

Handler json_handler(std::string body) {
  return [body](Request&) -> net::awaitable<Response> { co_return Response::json(200, body); };
}

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions opts = {}) {
    server_ = std::make_unique<Server>(std::move(opts), router_, metrics_);
    auto ep = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(ep.has_value()) << ep.error().message;
    endpoint_ = *ep;
    port_ = static_cast<uint16_t>(std::stoi(ep->substr(ep->rfind(':') + 1)));
    thread_ = std::thread([this] {
      server_->run();
      returned_ = true;
    });
  }

  // Stops the server and waits for run() to return.
  bool stop_and_join(std::chrono::milliseconds timeout = 5000ms) {
    server_->stop();
    auto deadline = Clock::now() + timeout;
    while (!returned_ && Clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    if (thread_.joinable() && returned_) {
      thread_.join();
    }
    return returned_;
  }

  void TearDown() override {
    if (server_ && thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }

  HttpReply request(const std::string& raw, bool head = false) {
    Client c(port_);
    EXPECT_TRUE(c.connected());
    EXPECT_TRUE(c.send(raw));
    auto r = c.read_response(head);
    EXPECT_TRUE(r.has_value());
    return r.value_or(HttpReply{});
  }

  Router router_;
  core::Metrics metrics_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::atomic<bool> returned_{false};
  std::string endpoint_;
  uint16_t port_ = 0;
};

void expect_security_headers(const HttpReply& r) {
  EXPECT_EQ(r.header("content-security-policy"),
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'");
  EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(r.header("referrer-policy"), "no-referrer");
  EXPECT_EQ(r.header("x-frame-options"), "DENY");
  EXPECT_EQ(r.header("cross-origin-opener-policy"), "same-origin");
  EXPECT_EQ(r.header("server"), "twostep");
}

TEST_F(ServerTest, ServesJsonWithSecurityHeaders) {
  router_.add("GET", "/hello", json_handler(R"({"ok":true})"));
  start();
  EXPECT_EQ(endpoint_.rfind("127.0.0.1:", 0), 0u);
  HttpReply r = request(get("/hello"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":true})");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("content-length"), "11");
  EXPECT_EQ(r.header("cache-control"), "no-store");
  EXPECT_FALSE(r.has("strict-transport-security"));
  expect_security_headers(r);
  std::string m = metrics_.render();
  EXPECT_NE(m.find(R"(route="/hello",method="GET",status="200")"), std::string::npos) << m;
}

TEST_F(ServerTest, HstsAndHandlerCacheControl) {
  router_.add("GET", "/asset", [](Request&) -> net::awaitable<Response> {
    Response r = Response::text(200, "x");
    r.set("Cache-Control", "public, max-age=60");
    co_return r;
  });
  ServerOptions o;
  o.hsts = true;
  start(o);
  HttpReply r = request(get("/asset"));
  EXPECT_EQ(r.header("strict-transport-security"), "max-age=31536000; includeSubDomains");
  EXPECT_EQ(r.header("cache-control"), "public, max-age=60");
  expect_security_headers(r);
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowed) {
  router_.add("GET", "/only-get", json_handler("{}"));
  router_.add("DELETE", "/only-get", json_handler("{}"));
  start();
  HttpReply nf = request(get("/nope"));
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.header("content-type"), "application/json");
  EXPECT_EQ(nf.body, R"({"error":"not_found","message":"No such resource."})");
  expect_security_headers(nf);

  HttpReply na = request("POST /only-get HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.header("allow"), "DELETE, GET, HEAD");
  EXPECT_EQ(na.body,
            R"({"error":"method_not_allowed","message":"This method is not allowed here."})");
  expect_security_headers(na);
  EXPECT_NE(metrics_.render().find(R"(route="unmatched",method="POST",status="405")"),
            std::string::npos);
}

TEST_F(ServerTest, RequestReachesHandlerDecoded) {
  router_.add("POST", "/items/{id}", [](Request& req) -> net::awaitable<Response> {
    std::string out = req.method + "|" + req.path + "|" + req.params.at("id") + "|" +
                      req.query_param("q").value_or("-") + "|" + req.body + "|" + req.route + "|" +
                      std::string(req.header("X-Thing").value_or("-")) + "|" +
                      (req.id > 0 ? "id" : "noid");
    co_return Response::text(200, out);
  });
  start();
  HttpReply r = request(
      "POST /items/a%20b?q=x%2By HTTP/1.1\r\nHost: t\r\nX-THING: v\r\nContent-Length: 5\r\n\r\n"
      "hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST|/items/a b|a b|x+y|hello|/items/{id}|v|id");
}

TEST_F(ServerTest, BodyTooLargeIs413) {
  router_.add("POST", "/upload", json_handler("{}"));
  start();
  Client c(port_);
  std::string body(65 * 1024, 'x');
  ASSERT_TRUE(
      c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find(R"("error":"body_too_large")"), std::string::npos);
  EXPECT_EQ(r->header("connection"), "close");
  expect_security_headers(*r);
  EXPECT_TRUE(c.closed_within(3000ms));
}

TEST_F(ServerTest, ChunkedBodyTooLargeIs413) {
  router_.add("POST", "/upload", json_handler("{}"));
  ServerOptions o;
  o.body_limit = 1000;
  start(o);
  Client c(port_);
  std::string chunk(800, 'x');
  ASSERT_TRUE(
      c.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "320\r\n" +
             chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ServerTest, HeadersTooLargeIs431) {
  router_.add("GET", "/hello", json_handler("{}"));
  start();
  Client c(port_);
  ASSERT_TRUE(c.send(get("/hello", "X-Big: " + std::string(20 * 1024, 'a') + "\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_NE(r->body.find(R"("error":"headers_too_large")"), std::string::npos);
  expect_security_headers(*r);
  EXPECT_TRUE(c.closed_within(3000ms));
}

TEST_F(ServerTest, MalformedRequestIs400) {
  start();
  for (std::string bad : {std::string("THIS IS NOT HTTP\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n"),
                          std::string("GET http://evil/ HTTP/1.1\r\nHost: t\r\n\r\n")}) {
    Client c(port_);
    ASSERT_TRUE(c.send(bad));
    auto r = c.read_response();
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(r->body.find(R"("error":"bad_request")"), std::string::npos);
    EXPECT_TRUE(c.closed_within(3000ms)) << bad;
  }
}

TEST_F(ServerTest, SlowClientIsClosedAfterReadTimeout) {
  router_.add("GET", "/hello", json_handler("{}"));
  ServerOptions o;
  o.read_timeout = 1s;
  start(o);
  Client c(port_);
  auto t0 = Clock::now();
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: t\r\n"));  // ... and never the rest
  EXPECT_TRUE(c.closed_within(4000ms));
  auto took = Clock::now() - t0;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2500ms);
}

TEST_F(ServerTest, SilentClientIsClosedAfterReadTimeout) {
  ServerOptions o;
  o.read_timeout = 1s;
  start(o);
  Client c(port_);
  auto t0 = Clock::now();
  EXPECT_TRUE(c.closed_within(4000ms));
  EXPECT_LT(Clock::now() - t0, 2500ms);
}

TEST_F(ServerTest, KeepAliveServesTwoRequests) {
  std::atomic<int> calls{0};
  router_.add("GET", "/n", [&calls](Request&) -> net::awaitable<Response> {
    co_return Response::text(200, std::to_string(++calls));
  });
  start();
  Client c(port_);
  ASSERT_TRUE(c.send(get("/n")));
  auto a = c.read_response();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->body, "1");
  EXPECT_NE(a->header("connection"), "close");
  ASSERT_TRUE(c.send(get("/n", "Connection: close\r\n")));
  auto b = c.read_response();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body, "2");
  EXPECT_EQ(b->header("connection"), "close");
  EXPECT_TRUE(c.closed_within(2000ms));
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  router_.add("GET", "/a", json_handler("\"a\""));
  router_.add("GET", "/b", json_handler("\"b\""));
  start();
  Client c(port_);
  ASSERT_TRUE(c.send(get("/a") + get("/b")));
  auto a = c.read_response();
  auto b = c.read_response();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "\"a\"");
  EXPECT_EQ(b->body, "\"b\"");
}

TEST_F(ServerTest, HeadSendsHeadersWithoutBody) {
  router_.add("GET", "/hello", json_handler(R"({"ok":true})"));
  start();
  Client c(port_);
  ASSERT_TRUE(c.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto h = c.read_response(/*head=*/true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->header("content-length"), "11");
  expect_security_headers(*h);
  // The next response starts right away: no body bytes were sent.
  ASSERT_TRUE(c.send(get("/hello")));
  auto g = c.read_response();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 200);
  EXPECT_EQ(g->body, R"({"ok":true})");
}

TEST_F(ServerTest, HandlerExceptionIs500) {
  router_.add("GET", "/boom", [](Request&) -> net::awaitable<Response> {
    throw std::runtime_error("database exploded");
    co_return Response::text(200, "unreachable");
  });
  start();
  HttpReply r = request(get("/boom"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"internal","message":"Something went wrong on our side."})");
  EXPECT_EQ(r.body.find("exploded"), std::string::npos);
  expect_security_headers(r);
  EXPECT_NE(metrics_.render().find(R"(route="/boom",method="GET",status="500")"),
            std::string::npos);
}

TEST_F(ServerTest, HandlerAwaitsWorkerPool) {
  WorkerPool pool("test", 2, 4);
  router_.add("GET", "/work", [&pool](Request&) -> net::awaitable<Response> {
    auto main_thread = std::this_thread::get_id();
    auto r = co_await pool.run(
        [main_thread] { return std::this_thread::get_id() != main_thread ? 42 : -1; });
    if (!r) {
      co_return Response::json(503, R"({"error":"overloaded"})");
    }
    co_return Response::text(200, std::to_string(*r));
  });
  start();
  HttpReply r = request(get("/work"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "42");
}

TEST_F(ServerTest, SaturatedPoolAnswers503) {
  WorkerPool pool("test", 1, 0);
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  router_.add("GET", "/work", [&](Request&) -> net::awaitable<Response> {
    bool is_first = first.exchange(false);
    auto r = co_await pool.run([&, is_first] {
      if (is_first) {
        started.set_value();
        released.wait();
      }
      return 1;
    });
    if (!r) {
      Response busy = Response::json(503, R"({"error":"overloaded"})");
      busy.set("Retry-After", "1");
      co_return busy;
    }
    co_return Response::text(200, "done");
  });
  ServerOptions o;
  o.threads = 2;
  start(o);
  Client a(port_);
  ASSERT_TRUE(a.send(get("/work")));
  ASSERT_EQ(started.get_future().wait_for(5s), std::future_status::ready);
  HttpReply b = request(get("/work"));
  EXPECT_EQ(b.status, 503);
  EXPECT_EQ(b.header("retry-after"), "1");
  EXPECT_EQ(pool.rejected(), 1);
  release.set_value();
  auto ra = a.read_response();
  ASSERT_TRUE(ra);
  EXPECT_EQ(ra->status, 200);
  EXPECT_EQ(ra->body, "done");
}

Handler echo_client() {
  return [](Request& req) -> net::awaitable<Response> {
    co_return Response::text(200, req.peer_addr + " " + req.client_addr);
  };
}

TEST_F(ServerTest, ForwardedForHonouredFromTrustedProxy) {
  router_.add("GET", "/who", echo_client());
  ServerOptions o;
  o.trusted_proxies = {"127.0.0.1"};
  start(o);
  EXPECT_EQ(request(get("/who", "X-Forwarded-For: 1.1.1.1, 203.0.113.9\r\n")).body,
            "127.0.0.1 203.0.113.9");
  EXPECT_EQ(request(get("/who")).body, "127.0.0.1 127.0.0.1");
}

TEST_F(ServerTest, ForwardedForIgnoredFromUntrustedPeer) {
  router_.add("GET", "/who", echo_client());
  ServerOptions o;
  o.trusted_proxies = {"10.0.0.1"};
  start(o);
  EXPECT_EQ(request(get("/who", "X-Forwarded-For: 203.0.113.9\r\n")).body, "127.0.0.1 127.0.0.1");
}

TEST_F(ServerTest, InvalidTrustedProxyFailsListen) {
  ServerOptions o;
  o.trusted_proxies = {"not-an-address"};
  Server s(o, router_, metrics_);
  auto r = s.listen("127.0.0.1", 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not-an-address"), std::string::npos);
}

TEST_F(ServerTest, ListenOnBusyPortFails) {
  start();
  Server other({}, router_, metrics_);
  auto r = other.listen("127.0.0.1", port_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot listen"), std::string::npos);
}

// Says when it starts, answers "finished" after `delay`.
Handler slow_handler(std::promise<void>& entered, std::chrono::milliseconds delay) {
  return [&entered, delay](Request&) -> net::awaitable<Response> {
    entered.set_value();
    net::steady_timer t(co_await net::this_coro::executor);
    t.expires_after(delay);
    co_await t.async_wait(net::use_awaitable);
    co_return Response::text(200, "finished");
  };
}

TEST_F(ServerTest, StopDrainsInFlightRequest) {
  std::promise<void> entered;
  router_.add("GET", "/slow", slow_handler(entered, 300ms));
  start();
  Client idle(port_);  // an idle keep-alive connection must not hold up the drain
  Client c(port_);
  ASSERT_TRUE(c.send(get("/slow")));
  ASSERT_EQ(entered.get_future().wait_for(5s), std::future_status::ready);
  auto t0 = Clock::now();
  server_->stop();
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "finished");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(stop_and_join(3000ms));
  EXPECT_LT(Clock::now() - t0, 2000ms);
  EXPECT_TRUE(idle.closed_within(1000ms));
  // No longer accepting.
  Client late(port_);
  EXPECT_FALSE(late.connected() && late.send(get("/slow")) && late.read_response(false, 500ms));
}

TEST_F(ServerTest, GraceEndsStuckRequests) {
  router_.add("GET", "/stuck", [](Request&) -> net::awaitable<Response> {
    net::steady_timer t(co_await net::this_coro::executor);
    t.expires_after(30s);
    boost::system::error_code ec;
    co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
    co_return Response::text(200, "late");
  });
  ServerOptions o;
  o.shutdown_grace = 1s;
  start(o);
  Client c(port_);
  ASSERT_TRUE(c.send(get("/stuck")));
  std::this_thread::sleep_for(100ms);
  auto t0 = Clock::now();
  EXPECT_TRUE(stop_and_join(4000ms));
  EXPECT_LT(Clock::now() - t0, 2500ms);
}

TEST_F(ServerTest, SigtermStopsServer) {
  router_.add("GET", "/hello", json_handler("{}"));
  start();
  EXPECT_EQ(request(get("/hello")).status, 200);  // run() is up and the signal set armed
  std::raise(SIGTERM);
  auto deadline = Clock::now() + 3s;
  while (!returned_ && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(returned_);
}

TEST_F(ServerTest, StreamsServerSentEvents) {
  router_.add("GET", "/events", [](Request&) -> net::awaitable<Response> {
    Response r;
    r.status = 200;
    r.set("Content-Type", "text/event-stream");
    r.stream = [](StreamWriter& w) -> net::awaitable<void> {
      for (int i = 1; i <= 3; ++i) {
        if (!co_await w.write("data: " + std::to_string(i) + "\n\n")) {
          co_return;
        }
        net::steady_timer t(co_await net::this_coro::executor);
        t.expires_after(20ms);
        co_await t.async_wait(net::use_awaitable);
      }
    };
    co_return r;
  });
  start();
  Client c(port_);
  ASSERT_TRUE(c.send(get("/events")));
  auto r = c.read_response();  // no Content-Length: read until the server closes
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type"), "text/event-stream");
  EXPECT_EQ(r->header("cache-control"), "no-cache");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_FALSE(r->has("content-length"));
  EXPECT_FALSE(r->has("transfer-encoding"));
  expect_security_headers(*r);
  EXPECT_EQ(r->body, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
}

TEST_F(ServerTest, StreamWriterReportsClientGone) {
  std::promise<int> result;
  router_.add("GET", "/events", [&result](Request&) -> net::awaitable<Response> {
    Response r;
    r.set("Content-Type", "text/event-stream");
    r.stream = [&result](StreamWriter& w) -> net::awaitable<void> {
      int written = 0;
      std::string chunk(16 * 1024, 'x');
      chunk += "\n\n";
      // The client closes after the header: writes fail within a bounded number of tries.
      for (int i = 0; i < 10000; ++i) {
        if (!co_await w.write(chunk)) {
          break;
        }
        ++written;
        net::steady_timer t(co_await net::this_coro::executor);
        t.expires_after(1ms);
        co_await t.async_wait(net::use_awaitable);
      }
      result.set_value(written);
    };
    co_return r;
  });
  start();
  {
    Client c(port_);
    ASSERT_TRUE(c.send(get("/events")));
    c.fill_until("\r\n\r\n", 2s);
  }  // closed
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_LT(f.get(), 10000);
}

TEST_F(ServerTest, MaxConnectionsAnswers503) {
  router_.add("GET", "/hello", json_handler("{}"));
  ServerOptions o;
  o.max_connections = 1;
  start(o);
  Client first(port_);
  ASSERT_TRUE(first.send(get("/hello")));
  ASSERT_TRUE(first.read_response());  // the first connection is now open and counted
  EXPECT_EQ(server_->active_connections(), 1);
  Client second(port_);
  ASSERT_TRUE(second.send(get("/hello")));
  auto r = second.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find(R"("error":"overloaded")"), std::string::npos);
  expect_security_headers(*r);
  EXPECT_TRUE(second.closed_within(3000ms));
  // The first connection still works.
  ASSERT_TRUE(first.send(get("/hello")));
  auto again = first.read_response();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  router_.add("POST", "/echo", [](Request& req) -> net::awaitable<Response> {
    co_return Response::text(200, req.body);
  });
  start();
  Client c(port_);
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
             "Expect: 100-continue\r\n\r\n"));
  auto interim = c.read_response(/*head=*/true);
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("ping"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ping");
}

TEST_F(ServerTest, FallbackServesUnknownGet) {
  router_.add("GET", "/api/x", json_handler("{}"));
  router_.set_fallback([](Request& req) -> net::awaitable<Response> {
    co_return Response::text(200, "static " + req.path, "text/html");
  });
  start();
  HttpReply r = request(get("/index.html"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "static /index.html");
  EXPECT_EQ(request("POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").status,
            404);
}

TEST_F(ServerTest, IdleKeepAliveClosedAfterIdleTimeout) {
  router_.add("GET", "/hello", json_handler("{}"));
  ServerOptions o;
  o.idle_timeout = 1s;
  start(o);
  Client c(port_);
  ASSERT_TRUE(c.send(get("/hello")));
  ASSERT_TRUE(c.read_response());
  auto t0 = Clock::now();
  EXPECT_TRUE(c.closed_within(4000ms));
  EXPECT_GE(Clock::now() - t0, 900ms);
}

TEST_F(ServerTest, ConcurrentClientsOnSeveralThreads) {
  router_.add("GET", "/n/{i}", [](Request& req) -> net::awaitable<Response> {
    net::steady_timer t(co_await net::this_coro::executor);
    t.expires_after(5ms);
    co_await t.async_wait(net::use_awaitable);
    co_return Response::text(200, req.params.at("i"));
  });
  ServerOptions o;
  o.threads = 4;
  start(o);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      Client c(port_);
      for (int k = 0; k < 10; ++k) {
        std::string id = std::to_string(i * 100 + k);
        if (!c.send(get("/n/" + id))) {
          return;
        }
        auto r = c.read_response();
        if (r && r->status == 200 && r->body == id) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 80);
  EXPECT_TRUE(stop_and_join());
}

TEST_F(ServerTest, StopBeforeRunReturnsPromptly) {
  server_ = std::make_unique<Server>(ServerOptions{}, router_, metrics_);
  ASSERT_TRUE(server_->listen("127.0.0.1", 0));
  server_->stop();
  auto t0 = Clock::now();
  server_->run();
  EXPECT_LT(Clock::now() - t0, 1000ms);
}

TEST_F(ServerTest, DestroyWithoutRun) {
  auto s = std::make_unique<Server>(ServerOptions{}, router_, metrics_);
  ASSERT_TRUE(s->listen("127.0.0.1", 0));
  s.reset();  // must not hang or crash
}

// The parser is fed whatever the socket has: a request that arrives a few bytes at a time, with its
// body in a later segment, is the same request.
TEST_F(ServerTest, RequestArrivingInPiecesIsParsed) {
  router_.add("POST", "/echo", [](Request& req) -> net::awaitable<Response> {
    co_return Response::text(
        200, req.method + "|" + std::string(req.header("x-a").value_or("")) + "|" + req.body);
  });
  start();
  Client c(port_);
  const std::string raw =
      "POST /echo HTTP/1.1\r\nHost: t\r\nX-A: piecewise\r\nContent-Length: 11\r\n\r\n"
      "hello world";
  for (size_t i = 0; i < raw.size(); i += 7) {
    ASSERT_TRUE(c.send(raw.substr(i, 7)));
    std::this_thread::sleep_for(2ms);
  }
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST|piecewise|hello world");
}

// A response larger than the socket buffer: what the first non-blocking write leaves is sent
// through the reactor, in order, to a client that reads slowly.
TEST_F(ServerTest, LargeResponseReachesSlowReader) {
  std::string big(6 * 1024 * 1024, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) {
    big[i] = static_cast<char>('a' + (i / 4096) % 26);
  }
  router_.add("GET", "/big",
              [&big](Request&) -> net::awaitable<Response> { co_return Response::text(200, big); });
  start();
  Client c(port_);
  ASSERT_TRUE(c.send(get("/big") + get("/big")));
  std::this_thread::sleep_for(200ms);  // let the server fill the socket buffers first
  for (int i = 0; i < 2; ++i) {
    auto r = c.read_response(false, 20000ms);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), big.size());
    EXPECT_TRUE(r->body == big);
  }
}

// A client that never reads its (large) response is cut off after read_timeout: writes have a
// deadline too, so it cannot hold the connection.
TEST_F(ServerTest, ClientThatNeverReadsIsClosed) {
  std::string big(32 * 1024 * 1024, 'x');
  router_.add("GET", "/big",
              [&big](Request&) -> net::awaitable<Response> { co_return Response::text(200, big); });
  ServerOptions o;
  o.read_timeout = 1s;
  start(o);
  Client c(port_);
  ASSERT_TRUE(c.send(get("/big")));
  auto deadline = Clock::now() + 5s;
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(server_->active_connections(), 1);
  while (server_->active_connections() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(server_->active_connections(), 0);
}

TEST_F(ServerTest, Http10KeepAliveOnlyWhenAsked) {
  router_.add("GET", "/hello", json_handler("{}"));
  start();
  Client c(port_);
  ASSERT_TRUE(c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto a = c.read_response();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->header("connection"), "keep-alive");
  ASSERT_TRUE(c.send("GET /hello HTTP/1.0\r\n\r\n"));
  auto b = c.read_response();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 200);
  EXPECT_FALSE(b->has("connection"));  // HTTP/1.0 closes by default
  EXPECT_TRUE(c.closed_within(2000ms));
}

TEST_F(ServerTest, InvalidHandlerStatusIs500) {
  router_.add("GET", "/odd",
              [](Request&) -> net::awaitable<Response> { co_return Response::text(1000, "nope"); });
  start();
  HttpReply r = request(get("/odd"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"internal","message":"Something went wrong on our side."})");
}

// Handler headers that could split the response, or that the server owns, never reach the wire; the
// status line carries the standard reason phrase.
TEST_F(ServerTest, HandlerHeadersAreChecked) {
  router_.add("GET", "/h", [](Request&) -> net::awaitable<Response> {
    Response r = Response::text(201, "made");
    r.add("X-Ok", "fine");
    r.add("X-Bad", "a\r\nInjected: yes");
    r.add("Bad Name", "x");
    r.add("Content-Length", "999");
    r.add("Server", "spoofed");
    co_return r;
  });
  start();
  Client c(port_);
  ASSERT_TRUE(c.send(get("/h")));
  ASSERT_TRUE(c.fill_until("made", 2s));
  const std::string& raw = c.buffered();
  EXPECT_EQ(raw.rfind("HTTP/1.1 201 Created\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("\r\nX-Ok: fine\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("Injected"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("Bad Name"), std::string::npos) << raw;
  EXPECT_NE(raw.find("\r\nContent-Length: 4\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("999"), std::string::npos) << raw;
  EXPECT_NE(raw.find("\r\nServer: twostep\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("spoofed"), std::string::npos) << raw;
}

// Connections spread over several event loops all drain on stop: idle ones close at once, a busy
// one finishes its request.
TEST_F(ServerTest, StopDrainsEveryLoop) {
  std::promise<void> entered;
  router_.add("GET", "/hello", json_handler("{}"));
  router_.add("GET", "/slow", slow_handler(entered, 200ms));
  ServerOptions o;
  o.threads = 3;
  start(o);
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 6; ++i) {
    idle.push_back(std::make_unique<Client>(port_));
    ASSERT_TRUE(idle.back()->send(get("/hello")));
    ASSERT_TRUE(idle.back()->read_response());
  }
  Client busy(port_);
  ASSERT_TRUE(busy.send(get("/slow")));
  ASSERT_EQ(entered.get_future().wait_for(5s), std::future_status::ready);
  server_->stop();
  auto r = busy.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "finished");
  EXPECT_EQ(r->header("connection"), "close");
  for (auto& c : idle) {
    EXPECT_TRUE(c->closed_within(1000ms));
  }
  EXPECT_TRUE(stop_and_join(3000ms));
}

}  // namespace
}  // namespace twostep::http
