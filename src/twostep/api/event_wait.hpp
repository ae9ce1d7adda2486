// Waiting for bus events inside a handler without parking a thread: a subscription queues
// the payloads and wakes the waiting coroutine through a timer on its own executor (timer
// cancellation is the signal; Boost 1.74 has no channels). wait() returns what arrived, or
// nothing when the timeout passed or stop() was called.
#pragma once

#include <utility>  // before Asio headers (Boost 1.74)

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "twostep/services/events.hpp"

namespace twostep::api {

class EventWaiter {
 public:
  // `ex` must be the executor of the coroutine that calls wait() (a strand), so that the
  // wake-up never runs between the queue check and the start of the timer wait.
  EventWaiter(services::EventBus& bus, const std::string& channel, boost::asio::any_io_executor ex)
      : state_(std::make_shared<State>(ex)) {
    std::shared_ptr<State> st = state_;
    sub_ = bus.subscribe(channel, [st](const std::string& payload) {
      {
        std::lock_guard lock(st->mu);
        if (st->queue.size() < kMaxQueued) st->queue.push_back(payload);
      }
      boost::asio::post(st->timer.get_executor(), [st] { st->timer.cancel(); });
    });
  }
  ~EventWaiter() { sub_.reset(); }  // first: no handler runs after this
  EventWaiter(const EventWaiter&) = delete;
  EventWaiter& operator=(const EventWaiter&) = delete;

  struct Woken {
    std::vector<std::string> events;
    bool timed_out = false;
  };

  boost::asio::awaitable<Woken> wait(std::chrono::milliseconds timeout) {
    Woken w;
    if (!take(&w.events) && !state_->stopped) {
      state_->timer.expires_after(timeout);
      boost::system::error_code ec;
      co_await state_->timer.async_wait(
          boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      w.timed_out = !ec;
      take(&w.events);
    }
    co_return w;
  }

  // Ends the waiting for good (server shutdown); call on the waiter's executor.
  void stop() {
    state_->stopped = true;
    state_->timer.cancel();
  }
  bool stopped() const { return state_->stopped; }

 private:
  static constexpr size_t kMaxQueued = 256;  // a flood only wakes us; the store is the truth

  struct State {
    explicit State(boost::asio::any_io_executor ex) : timer(std::move(ex)) {}
    std::mutex mu;
    std::deque<std::string> queue;  // guarded by mu
    boost::asio::steady_timer timer;
    bool stopped = false;  // touched on the executor only
  };

  bool take(std::vector<std::string>* out) {
    std::lock_guard lock(state_->mu);
    out->assign(state_->queue.begin(), state_->queue.end());
    state_->queue.clear();
    return !out->empty();
  }

  std::shared_ptr<State> state_;
  std::unique_ptr<services::EventBus::Subscription> sub_;
};

}  // namespace twostep::api
