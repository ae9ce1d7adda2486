// A bounded worker pool for blocking work (Argon2id, store calls). The calling coroutine
// awaits the result and resumes on its own executor; the event loop never blocks. When the
// queue is full, run() answers std::nullopt at once and the handler replies 503.
#pragma once

#include <utility>  // before Asio headers (Boost 1.74)

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>
#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace twostep::http {

namespace net = boost::asio;

class WorkerPool {
 public:
  // `nice` > 0 lowers the priority of the pool's threads (Linux per-thread nice), so that a
  // flood of CPU-bound jobs (Argon2id) cannot starve the I/O threads: /verify stays fast
  // while sign-ins saturate the cores.
  WorkerPool(std::string name, int threads, int queue_limit, int nice = 0)
      : name_(std::move(name)), pool_(threads), limit_(queue_limit + threads), nice_(nice) {}
  ~WorkerPool() { stop(); }

  // Runs f on the pool. std::nullopt when the pool is saturated (queue full).
  //
  // Capture only by reference (the caller's coroutine frame outlives the job). GCC 12
  // destroys temporaries inside a co_await expression twice (GCC PR 99576 family), so a
  // job lambda that owns a std::string by value is freed twice; [&] captures are trivially
  // destructible and safe. The same holds for any lambda passed inline to a co_await call.
  template <class F>
  auto run(F f) -> net::awaitable<std::optional<std::invoke_result_t<F&>>> {
    using R = std::invoke_result_t<F&>;
    if (in_flight_.fetch_add(1) >= limit_) {
      in_flight_.fetch_sub(1);
      rejected_.fetch_add(1);
      co_return std::nullopt;
    }
    struct Guard {
      std::atomic<int>& n;
      ~Guard() { n.fetch_sub(1); }
    } guard{in_flight_};
    co_return co_await net::co_spawn(
        pool_.get_executor(),
        [f = std::move(f), nice = nice_]() mutable -> net::awaitable<std::optional<R>> {
          lower_priority(nice);
          co_return std::optional<R>(f());
        },
        net::use_awaitable);
  }

  const std::string& name() const { return name_; }
  // Jobs queued or running.
  int depth() const { return in_flight_.load(); }
  long rejected() const { return rejected_.load(); }
  void stop() {
    pool_.stop();
    pool_.join();
  }

 private:
  static void lower_priority(int nice) {
    thread_local bool done = false;
    if (done || nice <= 0) return;
    done = true;
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice);
  }

  std::string name_;
  net::thread_pool pool_;
  int limit_;
  int nice_ = 0;
  std::atomic<int> in_flight_{0};
  std::atomic<long> rejected_{0};
};

}  // namespace twostep::http
