// Time is injected: services read it through Clock so tests can move it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace twostep::core {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // Whole seconds since the Unix epoch: the unit the store keeps.
  int64_t unix_now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
  }
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

// A clock for tests: starts at a fixed instant and only moves when told.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_seconds = 1'700'000'000)
      : micros_(unix_seconds * 1'000'000) {}
  TimePoint now() const override {
    return TimePoint(std::chrono::microseconds(micros_.load()));
  }
  void set_unix(int64_t unix_seconds) { micros_ = unix_seconds * 1'000'000; }
  void advance(std::chrono::microseconds d) { micros_ += d.count(); }

 private:
  std::atomic<int64_t> micros_;
};

}  // namespace twostep::core
