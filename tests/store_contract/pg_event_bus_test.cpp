// The PostgreSQL event bus (LISTEN/NOTIFY) between two "instances" (two buses on one database):
// events reach the other instance once and this one once; bursts arrive whole and in order; an
// event too large for NOTIFY stays local; foreign notifications are ignored; and when the server
// ends the listening connection, the bus connects again, tells its subscribers to resync, and
// carries events again; a bus never started (the command-line tool) sends what it published
// when asked. Needs the test cluster (suite name Pg*).
#include "twostep/events/pg_event_bus.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends.hpp"
#include "twostep/core/metrics.hpp"

namespace twostep::events {
namespace {

using namespace std::chrono_literals;
using store::contract::postgres_admin;
using store::contract::PostgresDatabase;

// Collects what a subscription receives.
class Inbox {
 public:
  services::EventBus::Handler handler() {
    return [this](const std::string& payload) {
      std::lock_guard lock(mu_);
      got_.push_back(payload);
      cv_.notify_all();
    };
  }
  // Waits until `n` payloads arrived (or the timeout); returns them.
  std::vector<std::string> wait_for(size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
    return got_;
  }
  std::vector<std::string> now() {
    std::lock_guard lock(mu_);
    return got_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    got_.clear();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> got_;
};

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

class PgEventBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    thread_ = std::thread([this] { io_.run(); });
    a_.emplace(db_.url(), metrics_a_);
    b_.emplace(db_.url(), metrics_b_);
    a_->start(io_);
    b_->start(io_);
    ASSERT_TRUE(eventually([&] { return a_->connected() && b_->connected(); }))
        << "both buses listen";
  }
  void TearDown() override {
    work_.reset();
    io_.stop();
    thread_.join();
    a_->stop();
    b_->stop();
  }

  // Ends the listening connections of both buses from the server side.
  int terminate_listeners() {
    auto killed = postgres_admin(db_.admin_url(),
                                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = 'twostep' AND datname = '" +
                                     db_.name() + "'");
    return static_cast<int>(killed.size());
  }

  PostgresDatabase db_;
  core::Metrics metrics_a_;
  core::Metrics metrics_b_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::thread thread_;
  std::optional<PgEventBus> a_;
  std::optional<PgEventBus> b_;
};

TEST_F(PgEventBusTest, AnEventReachesTheOtherInstanceOnceAndThisOneOnce) {
  Inbox on_a;
  Inbox on_b;
  Inbox elsewhere;
  auto sa = a_->subscribe("user:1", on_a.handler());
  auto sb = b_->subscribe("user:1", on_b.handler());
  auto sx = b_->subscribe("user:2", elsewhere.handler());

  a_->publish("user:1", R"({"type":"approval","id":7})");
  EXPECT_EQ(on_b.wait_for(1), std::vector<std::string>{R"({"type":"approval","id":7})"});
  // The publisher's own subscribers got it at once, and not again from its own NOTIFY.
  EXPECT_EQ(on_a.now(), std::vector<std::string>{R"({"type":"approval","id":7})"});
  b_->publish("user:1", "ping");  // a round trip through B: A's own NOTIFY has arrived by now
  EXPECT_EQ(on_a.wait_for(2).size(), 2u);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(on_a.now().size(), 2u);
  EXPECT_EQ(on_b.now().size(), 2u);
  EXPECT_TRUE(elsewhere.now().empty());
  EXPECT_NE(metrics_a_.render().find("twostep_event_bus_connected 1"), std::string::npos);
}

TEST_F(PgEventBusTest, ABurstArrivesWholeAndInOrder) {
  Inbox on_b;
  auto sb = b_->subscribe("user:9", on_b.handler());
  std::vector<std::string> sent;
  for (int i = 0; i < 500; ++i) {
    sent.push_back("{\"n\":" + std::to_string(i) + "}");
  }
  std::thread publisher([&] {
    for (const auto& p : sent) {
      a_->publish("user:9", p);
    }
  });
  publisher.join();
  EXPECT_EQ(on_b.wait_for(sent.size(), 10s), sent);
}

TEST_F(PgEventBusTest, AStalledServerMakesTheSenderWaitWithoutBlockingPublishers) {
  // The server processes of both listeners stop (SIGSTOP) while ~7 MB of events are published:
  // the sender keeps one statement in flight and queues the rest, publish() still returns at
  // once, and everything arrives, in order, once the server runs again.
  Inbox on_b;
  auto sb = b_->subscribe("user:9", on_b.handler());
  const auto pids = postgres_admin(db_.admin_url(),
                                   "SELECT pid FROM pg_stat_activity WHERE application_name = "
                                   "'twostep' AND datname = '" +
                                       db_.name() + "'");
  ASSERT_EQ(pids.size(), 2u);
  for (const auto& pid : pids) {
    ASSERT_EQ(::kill(std::stoi(pid), SIGSTOP), 0);
  }
  std::vector<std::string> sent;
  for (int i = 0; i < 1000; ++i) {
    sent.push_back(std::to_string(i) + std::string(7000, static_cast<char>('a' + i % 26)));
  }
  const auto started = std::chrono::steady_clock::now();
  for (const auto& p : sent) {
    a_->publish("user:9", p);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(on_b.now().empty());
  for (const auto& pid : pids) {
    ::kill(std::stoi(pid), SIGCONT);
  }
  EXPECT_EQ(on_b.wait_for(sent.size(), 30s), sent);
}

TEST_F(PgEventBusTest, ACommandLineToolSendsWhatItPublishedWhenAsked) {
  // A bus that is never started (the `twostep` command-line tool): events reach its own
  // subscribers at once and the running instances when send_pending() runs, all in one go.
  Inbox on_b;
  auto sb = b_->subscribe("sessions", on_b.handler());
  core::Metrics metrics;
  PgEventBus cli(db_.url(), metrics);
  Inbox local;
  auto sl = cli.subscribe("sessions", local.handler());
  std::vector<std::string> sent;
  for (int i = 0; i < 40; ++i) {  // more than one batch
    sent.push_back("{\"n\":" + std::to_string(i) + "}");
    cli.publish("sessions", sent.back());
  }
  EXPECT_EQ(local.now(), sent);
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(on_b.now().empty()) << "nothing is sent before send_pending()";
  ASSERT_TRUE(cli.send_pending());
  EXPECT_EQ(on_b.wait_for(sent.size()), sent);
  EXPECT_NE(metrics.render().find("direction=\"sent\"} 40"), std::string::npos);
  // Sent once: a second call has nothing to do.
  ASSERT_TRUE(cli.send_pending());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(on_b.now().size(), sent.size());
}

TEST_F(PgEventBusTest, ACommandLineToolThatCannotReachTheDatabaseSaysSo) {
  core::Metrics metrics;
  // Nothing listens on port 1; the URL's password must not come back in the error.
  PgEventBus cli("postgresql://u:secret-pw@127.0.0.1:1/db?connect_timeout=2", metrics);
  EXPECT_TRUE(cli.send_pending()) << "nothing published: no connection needed";
  cli.publish("sessions", "{}");
  auto st = cli.send_pending();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, core::Code::kUnavailable);
  EXPECT_EQ(st.error().detail.find("secret-pw"), std::string::npos);
  EXPECT_EQ(st.error().message.find("secret-pw"), std::string::npos);
}

TEST_F(PgEventBusTest, TooLargeForNotifyStaysOnThisInstance) {
  Inbox on_a;
  Inbox on_b;
  auto sa = a_->subscribe("user:1", on_a.handler());
  auto sb = b_->subscribe("user:1", on_b.handler());
  const std::string big(PgEventBus::kMaxPayload + 1, 'x');
  a_->publish("user:1", big);
  a_->publish("user:1", "small");
  EXPECT_EQ(on_b.wait_for(1), std::vector<std::string>{"small"});
  EXPECT_EQ(on_a.now(), (std::vector<std::string>{big, "small"}));
  EXPECT_NE(metrics_a_.render().find("direction=\"dropped\"} 1"), std::string::npos);
}

TEST_F(PgEventBusTest, ForeignNotificationsAreIgnored) {
  Inbox on_b;
  auto sb = b_->subscribe("user:1", on_b.handler());
  postgres_admin(db_.url(), "SELECT pg_notify('twostep_events', 'no-separators')");
  postgres_admin(db_.url(), "SELECT pg_notify('twostep_events', 'x\nuser:1 swapped')");
  postgres_admin(db_.url(), "SELECT pg_notify('other_channel', 'o user:1\nnot ours')");
  postgres_admin(db_.url(), "SELECT pg_notify('twostep_events', 'someone user:1\nfrom psql')");
  // Only the well-formed one arrives (from an origin that is not B).
  EXPECT_EQ(on_b.wait_for(1), std::vector<std::string>{"from psql"});
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(on_b.now().size(), 1u);
}

TEST_F(PgEventBusTest, ReconnectsAfterTheServerEndsTheConnectionAndTellsSubscribersToResync) {
  Inbox on_b;
  auto sb = b_->subscribe("user:1", on_b.handler());
  ASSERT_EQ(terminate_listeners(), 2);
  ASSERT_TRUE(eventually([&] { return !b_->connected(); }, 5s));
  // Back within the first pauses (250 ms, 500 ms, ...), and its subscribers hear about it.
  ASSERT_TRUE(eventually([&] { return a_->connected() && b_->connected(); }, 10s));
  EXPECT_EQ(on_b.wait_for(1), std::vector<std::string>{services::kResyncEvent});
  on_b.clear();
  a_->publish("user:1", "after");
  EXPECT_EQ(on_b.wait_for(1), std::vector<std::string>{"after"});
}

TEST_F(PgEventBusTest, UnsubscribedHandlersAreNotCalledAndNotResynced) {
  Inbox on_b;
  { auto sb = b_->subscribe("user:1", on_b.handler()); }
  a_->publish("user:1", "nobody listens");
  ASSERT_EQ(terminate_listeners(), 2);
  ASSERT_TRUE(eventually([&] { return !b_->connected(); }, 5s));
  ASSERT_TRUE(eventually([&] { return b_->connected(); }, 10s));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(on_b.now().empty());
}

TEST(PgEventBusOutageTest, WithoutADatabaseEventsStayLocalAndNothingBlocks) {
  // A port nobody listens on: connection attempts fail, publish() still returns at once.
  core::Metrics metrics;
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  {
    PgEventBus bus("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", metrics);
    bus.start(io);
    Inbox inbox;
    auto sub = bus.subscribe("user:1", inbox.handler());
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 20000; ++i) {
      bus.publish("user:1", "x");
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
    EXPECT_EQ(inbox.now().size(), 20000u);
    EXPECT_FALSE(bus.connected());
    // The queue stayed bounded: what could not wait was dropped and counted.
    const std::string scraped = metrics.render();
    EXPECT_NE(scraped.find("direction=\"dropped\"} 10000"), std::string::npos) << scraped;
    EXPECT_NE(scraped.find("twostep_event_bus_connected 0"), std::string::npos) << scraped;
    work.reset();
    io.stop();
    t.join();
    bus.stop();
  }
}

}  // namespace
}  // namespace twostep::events
