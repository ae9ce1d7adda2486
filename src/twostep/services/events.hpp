// The event bus: small notices that must reach every server instance (a new approval
// request, a decision, a revoked session). A channel is a string ("user:42"), a payload a
// short JSON text. This in-process implementation serves one instance (SQLite); the
// PostgreSQL LISTEN/NOTIFY one implements the same interface, so nothing above depends on
// which is used. Delivery is best effort and at most once: subscribers re-read the store
// for the truth and use events only to wake up early.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace twostep::services {

class EventBus {
 public:
  using Handler = std::function<void(const std::string& payload)>;

  // Unsubscribes when destroyed; after the destructor returns the handler is never called
  // again (it may be running on another thread until then).
  class Subscription {
   public:
    virtual ~Subscription() = default;
  };

  virtual ~EventBus() = default;
  // Calls the handler of every subscriber of `channel`, on the publishing thread or on a
  // thread of the bus; handlers must be quick and must not block (post the work elsewhere).
  virtual void publish(const std::string& channel, const std::string& payload) = 0;
  virtual std::unique_ptr<Subscription> subscribe(const std::string& channel, Handler handler) = 0;
};

// Channel names.
std::string user_channel(int64_t user_id);

// Delivered by a bus to every channel with subscribers when events may have been lost (the
// PostgreSQL bus after it connects again): subscribers re-read what they show from the store.
inline constexpr const char* kResyncEvent = "{\"type\":\"resync\"}";

class InProcessEventBus final : public EventBus {
 public:
  void publish(const std::string& channel, const std::string& payload) override;
  std::unique_ptr<Subscription> subscribe(const std::string& channel, Handler handler) override;
  // Subscribers now (for tests and metrics).
  size_t subscribers() const;

 private:
  class Sub;
  void remove(uint64_t id);

  struct Entry {
    std::string channel;
    Handler handler;
  };
  // One lock for the table and for running handlers, so that removing a subscription waits
  // for its running handler; recursive because a handler may publish or unsubscribe.
  mutable std::recursive_mutex mu_;
  uint64_t next_id_ = 1;
  std::multimap<std::string, uint64_t> by_channel_;
  std::map<uint64_t, Entry> entries_;
};

}  // namespace twostep::services
