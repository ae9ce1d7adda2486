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
#include <string_view>
#include <utility>
#include <vector>

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

// Cache announcements ("this session ended", "this application password was revoked"): a JSON
// object with a "type" and integer ids, nothing else (ids are not secrets). Built here and read
// here, so that every service speaks the same shape.
std::string announcement(std::string_view type,
                         std::initializer_list<std::pair<const char*, int64_t>> ids);
class Announcement {
 public:
  // Anything that is not such an object (the bus's resync, text from a newer version) reads
  // as type "" with no ids: receivers then empty their caches, which is safe.
  explicit Announcement(const std::string& payload);
  const std::string& type() const { return type_; }
  // The integer under `key`; -1 when missing or not an integer.
  int64_t id(std::string_view key) const;

 private:
  std::string type_;
  std::vector<std::pair<std::string, int64_t>> ids_;
};

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
