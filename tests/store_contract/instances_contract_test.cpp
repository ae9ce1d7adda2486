// The store contract for running instances (migration 0009): the row each `twostep serve`
// writes at start and on every heartbeat, deletes on a clean shutdown, and housekeeping's
// purge of rows unseen for long. Every backend runs it.
#include <string>
#include <vector>

#include "fixture.hpp"

namespace twostep::store {
namespace {

using contract::kNow;
using contract::must;
using contract::must_ok;
using core::Code;

Instance instance(const std::string& id, int64_t started_at, const std::string& keys = "1,2") {
  Instance i;
  i.id = id;
  i.host = "host-" + id;
  i.pid = 4242;
  i.version = "1.2.3";
  i.listen = "127.0.0.1:8080";
  i.key_ids = keys;
  i.current_key_id = 1;
  i.heartbeat_s = 15;
  i.started_at = started_at;
  i.seen_at = started_at;
  return i;
}

class InstanceStoreContract : public contract::ContractFixture {};

TEST_P(InstanceStoreContract, PutListsEveryColumnOldestStartFirst) {
  EXPECT_TRUE(must(store().list_instances()).empty());
  must_ok(store().put_instance(instance("b", kNow + 5)));
  must_ok(store().put_instance(instance("a", kNow, "1,2,3")));
  auto list = must(store().list_instances());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "a");
  EXPECT_EQ(list[0].host, "host-a");
  EXPECT_EQ(list[0].pid, 4242);
  EXPECT_EQ(list[0].version, "1.2.3");
  EXPECT_EQ(list[0].listen, "127.0.0.1:8080");
  EXPECT_EQ(list[0].key_ids, "1,2,3");
  EXPECT_EQ(list[0].current_key_id, 1);
  EXPECT_EQ(list[0].heartbeat_s, 15);
  EXPECT_EQ(list[0].started_at, kNow);
  EXPECT_EQ(list[0].seen_at, kNow);
  EXPECT_EQ(list[1].id, "b");
}

TEST_P(InstanceStoreContract, PutAgainRefreshesTheSameRow) {
  Instance a = instance("a", kNow);
  must_ok(store().put_instance(a));
  a.seen_at = kNow + 30;
  a.key_ids = "1,2,3";
  must_ok(store().put_instance(a));
  auto list = must(store().list_instances());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].seen_at, kNow + 30);
  EXPECT_EQ(list[0].key_ids, "1,2,3");
  EXPECT_EQ(list[0].started_at, kNow);
}

TEST_P(InstanceStoreContract, DeleteRemovesOnlyThatRow) {
  must_ok(store().put_instance(instance("a", kNow)));
  must_ok(store().put_instance(instance("b", kNow)));
  must_ok(store().delete_instance("a"));
  auto list = must(store().list_instances());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, "b");
  auto again = store().delete_instance("a");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::kNotFound);
}

TEST_P(InstanceStoreContract, PurgeDeletesRowsUnseenSinceTheLimit) {
  Instance old = instance("old", kNow - 100);
  Instance edge = instance("edge", kNow);
  Instance fresh = instance("fresh", kNow + 10);
  for (const auto& i : {old, edge, fresh}) must_ok(store().put_instance(i));
  EXPECT_EQ(must(store().delete_instances_seen_before(kNow)), 1);
  auto list = must(store().list_instances());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "edge");
  EXPECT_EQ(list[1].id, "fresh");
  EXPECT_EQ(must(store().delete_instances_seen_before(kNow)), 0);
}

TEST(Instance, LiveWithinThreeHeartbeats) {
  Instance i = instance("a", kNow);
  EXPECT_TRUE(i.live(kNow));
  EXPECT_TRUE(i.live(kNow + 45));
  EXPECT_FALSE(i.live(kNow + 46));
}

TEST(Instance, HasKeyMatchesWholeIds) {
  Instance i = instance("a", kNow, "2,13,40");
  EXPECT_TRUE(i.has_key(2));
  EXPECT_TRUE(i.has_key(13));
  EXPECT_TRUE(i.has_key(40));
  EXPECT_FALSE(i.has_key(1));
  EXPECT_FALSE(i.has_key(3));
  EXPECT_FALSE(i.has_key(4));
  EXPECT_FALSE(instance("b", kNow, "").has_key(0));
}

INSTANTIATE_TEST_SUITE_P(Backends, InstanceStoreContract,
                         ::testing::ValuesIn(contract::store_factories()), contract::backend_name);

}  // namespace
}  // namespace twostep::store
