#include "twostep/events/pg_event_bus.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>
#include <vector>

#include "twostep/core/log.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/store/postgres/pg_store.hpp"

namespace twostep::events {

namespace net = boost::asio;

namespace {

// NOTIFYs sent in one statement: a burst of events costs one round trip per batch.
constexpr size_t kBatch = 16;

std::string_view first_line(std::string_view text) {
  return text.substr(0, std::min(text.find('\n'), text.size()));
}

// SELECT pg_notify($1, $2), pg_notify($1, $3), ...: one statement for a batch of events, values
// only as parameters. Points into `payloads`, which must outlive it.
struct NotifyStatement {
  explicit NotifyStatement(const std::vector<std::string>& payloads) {
    sql = "SELECT ";
    values.push_back(PgEventBus::kPgChannel);
    for (size_t i = 0; i < payloads.size(); ++i) {
      sql += (i == 0 ? "" : ", ");
      sql += "pg_notify($1, $" + std::to_string(i + 2) + ")";
      values.push_back(payloads[i].c_str());
    }
  }
  std::string sql;
  std::vector<const char*> values;
};

}  // namespace

// The live connection: its socket is watched by `sd`, which does not own it (libpq does). Shared
// by the reading loop and a pending write wait, so that neither outlives it.
struct PgEventBus::Conn {
  PGconn* pg = nullptr;
  std::unique_ptr<net::posix::stream_descriptor> sd;
  bool listening = false;  // LISTEN acknowledged
  bool in_flight = false;  // a command's results are still to come
  bool flushing = false;   // a write wait is running
  ~Conn() { close(); }
  // Cancels the waits and closes the connection. Must run while the io_context the descriptor
  // belongs to still exists (PgEventBus::stop), since cancelling reaches into its services;
  // afterwards the destructor (e.g. of a copy held by a handler the io_context destroys) has
  // nothing left to do.
  void close() {
    if (sd) {
      boost::system::error_code ec;
      sd->cancel(ec);
      (void)sd->release();  // the descriptor is libpq's to close
      sd.reset();
    }
    if (pg != nullptr) {
      PQfinish(pg);
      pg = nullptr;
    }
  }
};

// Keeps the local subscription and the channel count for resync.
class PgEventBus::Sub final : public EventBus::Subscription {
 public:
  Sub(PgEventBus& bus, std::string channel, std::unique_ptr<Subscription> inner)
      : bus_(bus), channel_(std::move(channel)), inner_(std::move(inner)) {}
  ~Sub() override {
    inner_.reset();  // first: after this the handler never runs again
    bus_.unsubscribed(channel_);
  }

 private:
  PgEventBus& bus_;
  std::string channel_;
  std::unique_ptr<Subscription> inner_;
};

PgEventBus::PgEventBus(std::string url, core::Metrics& metrics)
    : url_(std::move(url)),
      origin_(crypto::hex_encode(crypto::random_bytes(8))),
      metrics_(metrics) {
  metrics_.gauge("twostep_event_bus_connected",
                 "1 while the LISTEN/NOTIFY connection of the event bus is up.",
                 [this] { return connected_.load() ? 1.0 : 0.0; });
  metrics_.describe("twostep_event_bus_events_total", "counter",
                    "Events of the PostgreSQL event bus: sent (NOTIFY), received from other "
                    "instances, dropped (queue full, too large, or lost with a connection).");
}

PgEventBus::~PgEventBus() { stop(); }

void PgEventBus::start(net::io_context& io) {
  std::lock_guard lock(mu_);
  if (io_ != nullptr) {
    return;
  }
  io_ = &io;
  strand_ = std::make_unique<net::strand<net::io_context::executor_type>>(io.get_executor());
  net::co_spawn(*strand_, run(), net::detached);
}

void PgEventBus::stop() {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    io_ = nullptr;
    queue_.clear();
    strand_.reset();  // it refers to the io_context's services, which may go before this object
  }
  // A connection attempt still running must finish before the io_context it reports to goes.
  connector_.stop();
  connector_.join();
  connected_ = false;
  // The live connection's descriptor is registered with the io_context: close it now, while the
  // io_context exists (its loops have stopped, so nothing else touches conn_).
  if (std::shared_ptr<Conn> c = std::exchange(conn_, nullptr)) {
    c->close();
  }
}

void PgEventBus::publish(const std::string& channel, const std::string& payload) {
  local_.publish(channel, payload);
  std::string wire = origin_ + " " + channel + "\n" + payload;
  if (wire.size() > kMaxPayload) {
    LOG_WARN("event bus: event too large for NOTIFY, delivered on this instance only channel="
             << channel << " bytes=" << wire.size());
    metrics_.inc("twostep_event_bus_events_total", "direction=\"dropped\"");
    return;
  }
  std::lock_guard lock(mu_);
  if (stopping_) {
    return;  // stopped: this process only
  }
  if (queue_.size() >= kMaxQueued) {
    queue_.pop_front();
    metrics_.inc("twostep_event_bus_events_total", "direction=\"dropped\"");
  }
  queue_.push_back(std::move(wire));
  if (io_ == nullptr) {
    return;  // not started yet: start() or send_pending() sends it
  }
  net::post(*strand_, [this] {
    if (conn_ != nullptr) {
      send_next(*conn_);
    }
  });
}

std::unique_ptr<services::EventBus::Subscription> PgEventBus::subscribe(const std::string& channel,
                                                                        Handler handler) {
  {
    std::lock_guard lock(mu_);
    ++channels_[channel];
  }
  return std::make_unique<Sub>(*this, channel, local_.subscribe(channel, std::move(handler)));
}

void PgEventBus::unsubscribed(const std::string& channel) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(channel);
  if (it != channels_.end() && --it->second <= 0) {
    channels_.erase(it);
  }
}

void PgEventBus::resync() {
  std::vector<std::string> channels;
  {
    std::lock_guard lock(mu_);
    for (const auto& [channel, n] : channels_) {
      channels.push_back(channel);
    }
  }
  for (const std::string& channel : channels) {
    local_.publish(channel, services::kResyncEvent);
  }
}

void PgEventBus::deliver(const char* wire) {
  // "<origin> <channel>\n<payload>"; anything else is not ours.
  std::string_view w(wire);
  size_t space = w.find(' ');
  size_t newline = w.find('\n');
  if (space == std::string_view::npos || newline == std::string_view::npos || newline < space) {
    return;
  }
  if (w.substr(0, space) == origin_) {
    return;  // delivered locally when published
  }
  metrics_.inc("twostep_event_bus_events_total", "direction=\"received\"");
  local_.publish(std::string(w.substr(space + 1, newline - space - 1)),
                 std::string(w.substr(newline + 1)));
}

net::awaitable<void> PgEventBus::run() {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer pause(ex);
  auto backoff = kMinBackoff;
  bool reported = false;  // the current outage was logged
  while (!stopping_) {
    // libpq connects synchronously (and resolves host names so): on the helper thread. The
    // coroutine resumes on the strand.
    auto opened = co_await net::co_spawn(
        connector_.get_executor(),
        [this]() -> net::awaitable<core::Result<store::postgres::Connection>> {
          co_return store::postgres::Connection::open(url_);
        },
        net::use_awaitable);
    if (stopping_) {
      co_return;
    }
    if (opened) {
      conn_ = std::make_shared<Conn>();
      Conn& conn = *conn_;
      conn.pg = opened->release();
      if (PQsetnonblocking(conn.pg, 1) == 0) {
        conn.sd = std::make_unique<net::posix::stream_descriptor>(ex, PQsocket(conn.pg));
        co_await serve(conn);
        boost::system::error_code ec;
        conn.sd->cancel(ec);  // ends a pending write wait, which holds its own reference
      }
      conn_.reset();
      if (connected_.exchange(false)) {
        backoff = kMinBackoff;
        reported = false;
      }
    }
    if (stopping_) {
      co_return;
    }
    if (!reported) {
      LOG_WARN(
          "event bus: not connected to the database; events reach this instance only "
          "until it is back"
          << (opened ? std::string() : ": " + opened.error().detail));
      reported = true;
    }
    pause.expires_after(backoff);
    boost::system::error_code ec;
    co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

net::awaitable<void> PgEventBus::serve(Conn& conn) {
  const std::string listen = std::string("LISTEN ") + kPgChannel;
  if (PQsendQuery(conn.pg, listen.c_str()) == 0) {
    co_return;
  }
  conn.in_flight = true;
  for (;;) {
    if (PQflush(conn.pg) == 1 && !conn.flushing) {
      // Only this coroutine and flush() touch the connection, both on the strand.
      net::co_spawn(conn.sd->get_executor(), flush(conn_), net::detached);
    }
    boost::system::error_code ec;
    co_await conn.sd->async_wait(net::posix::stream_descriptor::wait_read,
                                 net::redirect_error(net::use_awaitable, ec));
    if (ec || stopping_) {
      co_return;
    }
    if (PQconsumeInput(conn.pg) == 0) {
      LOG_WARN("event bus: connection lost: " << first_line(PQerrorMessage(conn.pg)));
      co_return;
    }
    // The results of the command in flight (LISTEN, or a batch of NOTIFYs): done at nullptr.
    while (conn.in_flight && PQisBusy(conn.pg) == 0) {
      PGresult* r = PQgetResult(conn.pg);
      if (r == nullptr) {
        conn.in_flight = false;
        break;
      }
      ExecStatusType status = PQresultStatus(r);
      const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
      if (!ok) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        LOG_WARN("event bus: " << (conn.listening ? "NOTIFY" : "LISTEN") << " failed: SQLSTATE "
                               << (state != nullptr ? state : "?"));
        if (!conn.listening) {
          PQclear(r);
          co_return;
        }
        metrics_.inc("twostep_event_bus_events_total", "direction=\"dropped\"");
      } else if (!conn.listening) {
        conn.listening = true;
        LOG_INFO("event bus: listening for events of other instances");
        // Whatever was sent while this instance was not listening is lost: subscribers re-read.
        // Before connected() turns true, so that whoever waits for it and then subscribes is
        // not told to resync by this (already past) reconnection.
        resync();
        connected_ = true;
      }
      PQclear(r);
    }
    while (PGnotify* n = PQnotifies(conn.pg)) {
      if (std::string_view(n->relname) == kPgChannel) {
        deliver(n->extra);
      }
      PQfreemem(n);
    }
    if (PQstatus(conn.pg) == CONNECTION_BAD) {
      LOG_WARN("event bus: connection lost: " << first_line(PQerrorMessage(conn.pg)));
      co_return;
    }
    send_next(conn);
  }
}

std::vector<std::string> PgEventBus::take_batch() {
  std::vector<std::string> batch;
  std::lock_guard lock(mu_);
  while (!queue_.empty() && batch.size() < kBatch) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void PgEventBus::send_next(Conn& conn) {
  if (!conn.listening || conn.in_flight) {
    return;
  }
  const std::vector<std::string> batch = take_batch();
  if (batch.empty()) {
    return;
  }
  const auto n = static_cast<double>(batch.size());
  const NotifyStatement notify(batch);
  if (PQsendQueryParams(conn.pg, notify.sql.c_str(), static_cast<int>(notify.values.size()),
                        nullptr, notify.values.data(), nullptr, nullptr, 0) == 0) {
    LOG_WARN("event bus: cannot send: " << first_line(PQerrorMessage(conn.pg)));
    metrics_.inc("twostep_event_bus_events_total", "direction=\"dropped\"", n);
    boost::system::error_code ec;
    conn.sd->cancel(ec);  // the reading loop ends and the connection is opened again
    return;
  }
  conn.in_flight = true;
  metrics_.inc("twostep_event_bus_events_total", "direction=\"sent\"", n);
  if (PQflush(conn.pg) == 1 && !conn.flushing) {
    net::co_spawn(conn.sd->get_executor(), flush(conn_), net::detached);
  }
}

core::Status PgEventBus::send_pending() {
  {
    std::lock_guard lock(mu_);
    if (io_ != nullptr || stopping_ || queue_.empty()) {
      return {};
    }
  }
  TS_ASSIGN_OR_RETURN(store::postgres::Connection conn, store::postgres::Connection::open(url_));
  for (auto batch = take_batch(); !batch.empty(); batch = take_batch()) {
    const NotifyStatement notify(batch);
    PGresult* r =
        PQexecParams(conn.get(), notify.sql.c_str(), static_cast<int>(notify.values.size()),
                     nullptr, notify.values.data(), nullptr, nullptr, 0);
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) {
      const std::string why(first_line(PQerrorMessage(conn.get())));
      std::lock_guard lock(mu_);
      queue_.clear();
      return core::fail(core::Code::kUnavailable, "event_bus", "cannot announce the change", why);
    }
    metrics_.inc("twostep_event_bus_events_total", "direction=\"sent\"",
                 static_cast<double>(batch.size()));
  }
  return {};
}

net::awaitable<void> PgEventBus::flush(std::shared_ptr<Conn> shared) {
  // The reference keeps the connection alive until this wait ends (run() cancels it).
  Conn& conn = *shared;
  conn.flushing = true;
  for (;;) {
    boost::system::error_code ec;
    co_await conn.sd->async_wait(net::posix::stream_descriptor::wait_write,
                                 net::redirect_error(net::use_awaitable, ec));
    if (ec || PQflush(conn.pg) != 1) {
      break;
    }
  }
  conn.flushing = false;
}

}  // namespace twostep::events
