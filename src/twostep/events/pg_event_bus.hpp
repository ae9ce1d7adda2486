// The event bus over PostgreSQL LISTEN/NOTIFY, for several instances on one database: an event
// published on one instance reaches the subscribers of every instance (an approval request
// created here reaches an authenticator whose stream another instance holds; a revoked session
// leaves every instance's /verify cache).
//
// One dedicated libpq connection per process, never a pooled one (the pool's health check would
// take a notification for a closing socket). It LISTENs on one PostgreSQL channel and sends the
// NOTIFYs too; all of it runs on the server's io_context: the socket is watched with
// posix::stream_descriptor::async_wait, PQconsumeInput/PQnotifies run when it is readable, and no
// thread ever waits for a notification. Only the (blocking) connection set-up runs on a helper
// thread, since libpq resolves host names synchronously.
//
// Delivery keeps the EventBus contract (best effort, at most once): publish() delivers to this
// instance's subscribers at once, on the calling thread, and queues the NOTIFY; other instances
// deliver when it arrives and skip their own. When the connection breaks (PostgreSQL restarted),
// it is opened again with a growing pause (250 ms to 5 s) and LISTENs again; notifications sent
// meanwhile are lost, so after every (re)connection every local channel gets a resync event
// (services::kResyncEvent) and subscribers re-read what they show from the store.
#pragma once

// clang-format off
#include <utility>  // before Asio headers (Boost 1.74)
// clang-format on

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "twostep/core/error.hpp"
#include "twostep/core/metrics.hpp"
#include "twostep/services/events.hpp"

namespace twostep::events {

class PgEventBus final : public services::EventBus {
 public:
  // The PostgreSQL channel every instance of one database listens on.
  static constexpr const char* kPgChannel = "twostep_events";
  // NOTIFY payloads are limited to 8000 bytes; ours are short JSON texts.
  static constexpr size_t kMaxPayload = 7900;
  // NOTIFYs waiting to be sent; beyond it the oldest are dropped (and counted).
  static constexpr size_t kMaxQueued = 10000;
  static constexpr std::chrono::milliseconds kMinBackoff{250};
  static constexpr std::chrono::milliseconds kMaxBackoff{5000};

  // `url` is database.url (never logged). Registers its metrics: twostep_event_bus_connected
  // (gauge), twostep_event_bus_events_total{direction="sent|received|dropped"}.
  PgEventBus(std::string url, core::Metrics& metrics);
  ~PgEventBus() override;
  PgEventBus(const PgEventBus&) = delete;
  PgEventBus& operator=(const PgEventBus&) = delete;

  // Connects and listens on `io` until stop(). Events published before are sent once it listens.
  void start(boost::asio::io_context& io);
  // For command-line tools, which never start(): sends the events published so far (a revoked
  // session, a disabled user) on a short-lived connection of its own, so that running
  // instances drop their cache entries at once. Blocks; kUnavailable when the database cannot
  // be reached (the events are then lost: instances learn through their cache expiry). Nothing
  // to do once started.
  core::Status send_pending();
  // Stops sending; call before `io` is destroyed (after it stopped running). The connection ends
  // with the io_context's pending work.
  void stop();

  void publish(const std::string& channel, const std::string& payload) override;
  std::unique_ptr<Subscription> subscribe(const std::string& channel, Handler handler) override;

  // True while the connection is up and LISTENing.
  bool connected() const { return connected_.load(); }

 private:
  class Sub;
  struct Conn;

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> serve(Conn& conn);
  boost::asio::awaitable<void> flush(std::shared_ptr<Conn> conn);
  void send_next(Conn& conn);
  // Up to kBatch queued events, taken off the queue.
  std::vector<std::string> take_batch();
  void deliver(const char* wire);
  void resync();
  void unsubscribed(const std::string& channel);

  const std::string url_;     // may hold a password
  const std::string origin_;  // this process, so that it skips its own notifications
  core::Metrics& metrics_;
  services::InProcessEventBus local_;

  std::mutex mu_;                        // guards the members below
  std::map<std::string, int> channels_;  // subscribed channels -> subscribers (for resync)
  std::deque<std::string> queue_;        // NOTIFY payloads to send
  boost::asio::io_context* io_ = nullptr;
  std::unique_ptr<boost::asio::strand<boost::asio::io_context::executor_type>> strand_;
  std::shared_ptr<Conn> conn_;  // the live connection; touched on the strand only

  std::atomic<bool> connected_{false};
  std::atomic<bool> stopping_{false};
  boost::asio::thread_pool connector_{1};  // runs PQconnectdbParams only
};

}  // namespace twostep::events
