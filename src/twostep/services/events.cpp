#include "twostep/services/events.hpp"

#include <vector>

namespace twostep::services {

std::string user_channel(int64_t user_id) { return "user:" + std::to_string(user_id); }

class InProcessEventBus::Sub final : public EventBus::Subscription {
 public:
  Sub(InProcessEventBus& bus, uint64_t id) : bus_(bus), id_(id) {}
  ~Sub() override { bus_.remove(id_); }

 private:
  InProcessEventBus& bus_;
  uint64_t id_;
};

void InProcessEventBus::publish(const std::string& channel, const std::string& payload) {
  std::lock_guard lock(mu_);
  // Ids first: a handler may subscribe or unsubscribe while we iterate.
  std::vector<uint64_t> ids;
  auto [first, last] = by_channel_.equal_range(channel);
  for (auto it = first; it != last; ++it) ids.push_back(it->second);
  for (uint64_t id : ids) {
    auto e = entries_.find(id);
    if (e == entries_.end()) continue;
    Handler h = e->second.handler;  // a copy: the handler may unsubscribe itself
    h(payload);
  }
}

std::unique_ptr<EventBus::Subscription> InProcessEventBus::subscribe(const std::string& channel,
                                                                     Handler handler) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  entries_.emplace(id, Entry{channel, std::move(handler)});
  by_channel_.emplace(channel, id);
  return std::make_unique<Sub>(*this, id);
}

void InProcessEventBus::remove(uint64_t id) {
  std::lock_guard lock(mu_);
  auto e = entries_.find(id);
  if (e == entries_.end()) return;
  auto [first, last] = by_channel_.equal_range(e->second.channel);
  for (auto it = first; it != last; ++it) {
    if (it->second == id) {
      by_channel_.erase(it);
      break;
    }
  }
  entries_.erase(e);
}

size_t InProcessEventBus::subscribers() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace twostep::services
