// A bounded in-memory cache whose entries live a fixed time: the caches that let
// /api/v1/verify answer without a store round trip (sessions by token digest, HTTP Basic
// successes by header digest). Sharded, one mutex per shard, so that I/O threads rarely wait
// for each other; time comes from the injected Clock, so tests move it.
//
// Revocation safety: erase_if() and clear() bump a generation counter *before* they visit the
// shards, and put() stores only if the generation is still the one its caller read before
// asking the store. A revocation that lands while a reader is at the store therefore cannot be
// undone by that reader caching what it read.
//
// Memory is bounded: each shard holds at most max_entries / kShards entries. A full shard first
// drops its expired entries; if that frees less than an eighth of it, it evicts arbitrary
// entries (hash order, so in effect random) down to seven eighths. A flood of distinct keys
// therefore costs O(1) amortised per insertion, keeps memory bounded, and still lets new
// entries in — older ones are only a cache miss (a store read) away.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "twostep/core/clock.hpp"

namespace twostep::core {

template <class Key, class Value, class Hash = std::hash<Key>>
class TtlCache {
 public:
  static constexpr size_t kShards = 16;

  // ttl <= 0 or max_entries == 0: the cache is off (get() misses, put() stores nothing).
  TtlCache(const Clock& clock, std::chrono::milliseconds ttl, size_t max_entries)
      : clock_(clock),
        ttl_(ttl),
        per_shard_(max_entries == 0 ? 0 : std::max<size_t>(1, max_entries / kShards)) {}
  TtlCache(const TtlCache&) = delete;
  TtlCache& operator=(const TtlCache&) = delete;

  bool enabled() const { return ttl_.count() > 0 && per_shard_ > 0; }
  std::chrono::milliseconds ttl() const { return ttl_; }
  size_t capacity() const { return per_shard_ * kShards; }

  // The value, while its entry is younger than the TTL and before its own deadline. An entry
  // stored "in the future" (the wall clock went back) counts as expired.
  std::optional<Value> get(const Key& key) {
    if (!enabled()) return std::nullopt;
    const TimePoint now = clock_.now();
    Shard& sh = shard(key);
    std::lock_guard lock(sh.mu);
    auto it = sh.map.find(key);
    if (it == sh.map.end()) return std::nullopt;
    if (expired(it->second, now)) {
      sh.map.erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }

  // Read before asking the store; pass to put().
  uint64_t generation() const { return generation_.load(); }

  // Stores `value` for the TTL, or until `until` if that comes sooner, unless the cache is off,
  // `until` has passed, or an erase_if()/clear() ran since `generation` was read. True when
  // stored.
  bool put(const Key& key, Value value, uint64_t generation, TimePoint until = TimePoint::max()) {
    if (!enabled()) return false;
    const TimePoint now = clock_.now();
    const TimePoint deadline = std::min(until, now + ttl_);
    if (deadline <= now) return false;
    Shard& sh = shard(key);
    std::lock_guard lock(sh.mu);
    if (generation_.load() != generation) return false;
    auto it = sh.map.find(key);
    if (it == sh.map.end() && sh.map.size() >= per_shard_) make_room(sh, now);
    sh.map.insert_or_assign(key, Entry{std::move(value), now, deadline});
    return true;
  }

  // Drops every entry whose value matches; the number dropped.
  template <class Pred>
  size_t erase_if(Pred pred) {
    ++generation_;
    size_t n = 0;
    for (Shard& sh : shards_) {
      std::lock_guard lock(sh.mu);
      n += std::erase_if(sh.map, [&](const auto& kv) { return pred(kv.second.value); });
    }
    return n;
  }

  void clear() {
    ++generation_;
    for (Shard& sh : shards_) {
      std::lock_guard lock(sh.mu);
      sh.map.clear();
    }
  }

  // Drops expired entries (housekeeping); the number dropped. Not a revocation: the generation
  // stays.
  size_t purge_expired() {
    const TimePoint now = clock_.now();
    size_t n = 0;
    for (Shard& sh : shards_) {
      std::lock_guard lock(sh.mu);
      n += std::erase_if(sh.map, [&](const auto& kv) { return expired(kv.second, now); });
    }
    return n;
  }

  size_t size() const {
    size_t n = 0;
    for (const Shard& sh : shards_) {
      std::lock_guard lock(sh.mu);
      n += sh.map.size();
    }
    return n;
  }

 private:
  struct Entry {
    Value value;
    TimePoint stored_at;
    TimePoint deadline;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<Key, Entry, Hash> map;
  };

  static bool expired(const Entry& e, TimePoint now) {
    return now >= e.deadline || now < e.stored_at;
  }

  Shard& shard(const Key& key) {
    // Other bits than the map's bucket choice (hash modulo a prime) mostly uses.
    const size_t h = Hash{}(key);
    return shards_[(h ^ (h >> 29) ^ (h >> 47)) % kShards];
  }

  // Called with the shard full: expired entries go; then, if less than an eighth is free,
  // arbitrary ones until it is.
  void make_room(Shard& sh, TimePoint now) {
    std::erase_if(sh.map, [&](const auto& kv) { return expired(kv.second, now); });
    const size_t target = per_shard_ - std::max<size_t>(1, per_shard_ / 8);
    for (auto it = sh.map.begin(); it != sh.map.end() && sh.map.size() > target;) {
      it = sh.map.erase(it);
    }
  }

  const Clock& clock_;
  const std::chrono::milliseconds ttl_;
  const size_t per_shard_;
  std::atomic<uint64_t> generation_{0};
  Shard shards_[kShards];
};

}  // namespace twostep::core
