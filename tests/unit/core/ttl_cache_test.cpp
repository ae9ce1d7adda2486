#include "twostep/core/ttl_cache.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace twostep::core {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Item {
  int owner = 0;
  std::string name;
};
using Cache = TtlCache<int, Item>;

class TtlCacheTest : public ::testing::Test {
 protected:
  FakeClock clock_;
};

TEST_F(TtlCacheTest, EntriesLiveTheirTimeAndNoLonger) {
  Cache cache(clock_, milliseconds(1000), 100);
  ASSERT_TRUE(cache.put(1, Item{7, "a"}, cache.generation()));
  clock_.advance(milliseconds(999));
  auto hit = cache.get(1);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->name, "a");
  clock_.advance(milliseconds(1));
  EXPECT_FALSE(cache.get(1));
  EXPECT_EQ(cache.size(), 0u) << "an expired entry found by get() goes";
}

TEST_F(TtlCacheTest, AnEntrysOwnDeadlineComesFirst) {
  Cache cache(clock_, milliseconds(60000), 100);
  const TimePoint until = clock_.now() + seconds(2);
  ASSERT_TRUE(cache.put(1, Item{7, "a"}, cache.generation(), until));
  clock_.advance(milliseconds(1999));
  EXPECT_TRUE(cache.get(1));
  clock_.advance(milliseconds(1));
  EXPECT_FALSE(cache.get(1));
  // A deadline already past stores nothing.
  EXPECT_FALSE(cache.put(2, Item{7, "b"}, cache.generation(), clock_.now()));
  EXPECT_FALSE(cache.get(2));
}

TEST_F(TtlCacheTest, AClockGoingBackDoesNotStretchALife) {
  Cache cache(clock_, milliseconds(1000), 100);
  ASSERT_TRUE(cache.put(1, Item{7, "a"}, cache.generation()));
  clock_.advance(-std::chrono::microseconds(seconds(3600)));  // NTP stepped the clock back
  EXPECT_FALSE(cache.get(1));
}

TEST_F(TtlCacheTest, OffWhenTheTimeOrTheSizeIsZero) {
  Cache no_time(clock_, milliseconds(0), 100);
  EXPECT_FALSE(no_time.enabled());
  EXPECT_FALSE(no_time.put(1, Item{}, no_time.generation()));
  EXPECT_FALSE(no_time.get(1));
  Cache no_room(clock_, milliseconds(1000), 0);
  EXPECT_FALSE(no_room.put(1, Item{}, no_room.generation()));
  EXPECT_EQ(no_room.size(), 0u);
  Cache negative(clock_, milliseconds(-5), 100);
  EXPECT_FALSE(negative.put(1, Item{}, negative.generation()));
}

TEST_F(TtlCacheTest, PutReplacesAndRestartsTheTime) {
  Cache cache(clock_, milliseconds(1000), 100);
  ASSERT_TRUE(cache.put(1, Item{7, "a"}, cache.generation()));
  clock_.advance(milliseconds(600));
  ASSERT_TRUE(cache.put(1, Item{7, "b"}, cache.generation()));
  clock_.advance(milliseconds(600));
  auto hit = cache.get(1);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->name, "b");
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(TtlCacheTest, EraseIfDropsMatchingValuesOnly) {
  Cache cache(clock_, milliseconds(1000), 1000);
  for (int k = 0; k < 100; ++k) {
    ASSERT_TRUE(cache.put(k, Item{k % 3, std::to_string(k)}, cache.generation()));
  }
  EXPECT_EQ(cache.erase_if([](const Item& i) { return i.owner == 1; }), 33u);
  EXPECT_EQ(cache.size(), 67u);
  EXPECT_FALSE(cache.get(1));
  EXPECT_TRUE(cache.get(0));
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.get(0));
}

TEST_F(TtlCacheTest, AnEraseWhileTheCallerReadTheStoreWins) {
  Cache cache(clock_, milliseconds(1000), 100);
  const uint64_t before = cache.generation();
  // ... the caller reads the store; meanwhile a revocation arrives:
  cache.erase_if([](const Item& i) { return i.owner == 7; });
  EXPECT_FALSE(cache.put(1, Item{7, "stale"}, before));
  EXPECT_FALSE(cache.get(1));
  cache.put(1, Item{7, "fresh"}, cache.generation());
  EXPECT_TRUE(cache.get(1));
  const uint64_t again = cache.generation();
  cache.clear();
  EXPECT_FALSE(cache.put(2, Item{7, "stale"}, again));
  // Housekeeping is not a revocation.
  const uint64_t g = cache.generation();
  cache.purge_expired();
  EXPECT_TRUE(cache.put(3, Item{7, "ok"}, g));
}

TEST_F(TtlCacheTest, PurgeExpiredDropsOnlyOldEntries) {
  Cache cache(clock_, milliseconds(1000), 100);
  cache.put(1, Item{}, cache.generation());
  clock_.advance(milliseconds(500));
  cache.put(2, Item{}, cache.generation());
  clock_.advance(milliseconds(600));
  EXPECT_EQ(cache.purge_expired(), 1u);
  EXPECT_FALSE(cache.get(1));
  EXPECT_TRUE(cache.get(2));
}

TEST_F(TtlCacheTest, AFloodOfDistinctKeysStaysBoundedAndNewEntriesStillGetIn) {
  constexpr size_t kMax = 160;  // 10 a shard
  Cache cache(clock_, milliseconds(1000), kMax);
  EXPECT_EQ(cache.capacity(), kMax);
  for (int k = 0; k < 100000; ++k) {
    ASSERT_TRUE(cache.put(k, Item{k, {}}, cache.generation())) << k;
    ASSERT_LE(cache.size(), kMax);
  }
  // The newest entry is always there: a full cache does not stop caching.
  EXPECT_TRUE(cache.get(99999));
  EXPECT_GT(cache.size(), kMax / 2) << "eviction makes room, it does not empty the cache";
}

TEST_F(TtlCacheTest, AFullShardDropsExpiredEntriesBeforeFreshOnes) {
  // 8 entries a shard. std::hash<int> is the identity, so keys 16 apart share a shard.
  Cache cache(clock_, milliseconds(1000), Cache::kShards * 8);
  for (int k : {0, 16, 32, 48}) cache.put(k, Item{1, {}}, cache.generation());
  clock_.advance(milliseconds(600));
  for (int k : {64, 80, 96, 112}) cache.put(k, Item{2, {}}, cache.generation());
  clock_.advance(milliseconds(500));  // the first four are expired, the others are not
  ASSERT_EQ(cache.size(), 8u);
  ASSERT_TRUE(cache.put(128, Item{3, {}}, cache.generation()));  // the shard is full
  EXPECT_EQ(cache.size(), 5u) << "the expired entries made room";
  for (int k : {64, 80, 96, 112, 128}) EXPECT_TRUE(cache.get(k)) << k;
}

TEST_F(TtlCacheTest, ManyThreadsAtOnce) {
  Cache cache(clock_, milliseconds(1000), 10000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 20000; ++i) {
        const int k = (i * 7 + t) % 3000;
        cache.put(k, Item{k % 5, {}}, cache.generation());
        (void)cache.get(k);
        if (i % 1000 == 0) cache.erase_if([&](const Item& it) { return it.owner == t; });
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.size(), 3000u);
}

}  // namespace
}  // namespace twostep::core
