#include "twostep/services/events.hpp"

#include <vector>

#include <nlohmann/json.hpp>

namespace twostep::services {

std::string user_channel(int64_t user_id) { return "user:" + std::to_string(user_id); }

std::string announcement(std::string_view type,
                         std::initializer_list<std::pair<const char*, int64_t>> ids) {
  nlohmann::ordered_json ev{{"type", type}};  // "type" first, as people read it
  for (const auto& [key, id] : ids) ev[key] = id;
  return ev.dump();
}

Announcement::Announcement(const std::string& payload) {
  const nlohmann::json ev = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!ev.is_object()) return;
  const auto type = ev.find("type");
  if (type == ev.end() || !type->is_string()) return;
  type_ = type->get<std::string>();
  for (const auto& [key, value] : ev.items()) {
    if (value.is_number_integer()) ids_.emplace_back(key, value.get<int64_t>());
  }
}

int64_t Announcement::id(std::string_view key) const {
  for (const auto& [k, v] : ids_) {
    if (k == key) return v;
  }
  return -1;
}

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
