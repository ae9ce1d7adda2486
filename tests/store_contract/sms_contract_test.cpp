// The store contract for SMS codes (issue 6): reservation with cool-down and daily quotas,
// cancel, newest code, attempts and use-once — each also under concurrency. Runs against
// every entry of store_factories(), so the PostgreSQL backend must pass it too.
#include <atomic>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace twostep::store {
namespace {

using contract::kNow;
using contract::must;
using contract::must_ok;

constexpr int64_t kDay = kNow / 86400;

class SmsStoreContract : public contract::ContractFixture {
 protected:
  void SetUp() override {
    ContractFixture::SetUp();
    alice_ = user("alice").id;
    bob_ = user("bob").id;
  }

  static SmsCode code(int64_t user_id, int64_t method_id, const std::string& number_hash,
                      int64_t at = kNow, const std::string& purpose = "auth",
                      const std::string& code_hash = "code-hash") {
    SmsCode c;
    c.user_id = user_id;
    c.method_id = method_id;
    c.purpose = purpose;
    c.number_hash = number_hash;
    c.code_hash = code_hash;
    c.created_at = at;
    c.expires_at = at + 300;
    return c;
  }

  // Reserves and marks sent; returns the code id.
  int64_t sent(const SmsCode& c) {
    SmsReservation r = must(store().sms_reserve(c, 60, c.created_at / 86400, {}));
    EXPECT_GT(r.code_id, 0);
    must_ok(store().sms_mark_sent(r.code_id));
    return r.code_id;
  }

  int64_t alice_ = 0;
  int64_t bob_ = 0;
};

TEST_P(SmsStoreContract, ReservedCodeIsNotCheckableUntilSent) {
  SmsReservation r = must(store().sms_reserve(code(alice_, 7, "n1"), 60, kDay, {}));
  ASSERT_GT(r.code_id, 0);
  EXPECT_EQ(r.retry_after_s, 0);
  EXPECT_TRUE(r.over_quota.empty());
  EXPECT_EQ(store().sms_latest_code(alice_, 7, "auth").error().code, core::Code::kNotFound);
  EXPECT_FALSE(must(store().sms_spend_attempt(r.code_id, 5, kNow)));
  EXPECT_FALSE(must(store().sms_consume(r.code_id, kNow)));
  must_ok(store().sms_mark_sent(r.code_id));
  SmsCode latest = must(store().sms_latest_code(alice_, 7, "auth"));
  EXPECT_EQ(latest.id, r.code_id);
  EXPECT_EQ(latest.user_id, alice_);
  EXPECT_EQ(latest.method_id, 7);
  EXPECT_EQ(latest.purpose, "auth");
  EXPECT_EQ(latest.number_hash, "n1");
  EXPECT_EQ(latest.code_hash, "code-hash");
  EXPECT_EQ(latest.created_at, kNow);
  EXPECT_EQ(latest.expires_at, kNow + 300);
  EXPECT_TRUE(latest.sent);
  EXPECT_EQ(latest.attempts, 0);
  EXPECT_EQ(latest.used_at, 0);
  EXPECT_EQ(store().sms_mark_sent(424242).error().code, core::Code::kNotFound);
}

TEST_P(SmsStoreContract, CooldownPerUserNumberAndPurpose) {
  sent(code(alice_, 7, "n1"));
  SmsReservation again = must(store().sms_reserve(code(alice_, 7, "n1", kNow + 20), 60, kDay, {}));
  EXPECT_EQ(again.code_id, 0);
  EXPECT_EQ(again.retry_after_s, 40);
  // Another number, another user, another purpose: not held back.
  EXPECT_GT(must(store().sms_reserve(code(alice_, 7, "n2", kNow + 20), 60, kDay, {})).code_id, 0);
  EXPECT_GT(must(store().sms_reserve(code(bob_, 9, "n1", kNow + 20), 60, kDay, {})).code_id, 0);
  EXPECT_GT(
      must(store().sms_reserve(code(alice_, 7, "n1", kNow + 20, "enroll"), 60, kDay, {})).code_id,
      0);
  // After the cool-down.
  EXPECT_GT(must(store().sms_reserve(code(alice_, 7, "n1", kNow + 60), 60, kDay, {})).code_id, 0);
}

TEST_P(SmsStoreContract, FullQuotaRefusesAndWritesNothing) {
  const std::vector<SmsQuota> quotas = {{"sms:user:1", 5}, {"sms:region:CH", 2}};
  sent(code(alice_, 7, "n1"));  // no quotas
  EXPECT_GT(must(store().sms_reserve(code(alice_, 7, "n2"), 0, kDay, quotas)).code_id, 0);
  EXPECT_GT(must(store().sms_reserve(code(alice_, 7, "n3"), 0, kDay, quotas)).code_id, 0);
  SmsReservation full = must(store().sms_reserve(code(alice_, 7, "n4"), 0, kDay, quotas));
  EXPECT_EQ(full.code_id, 0);
  EXPECT_EQ(full.over_quota, "sms:region:CH");
  // The refused reservation counted nothing on the other quota: 3 more fit under 5.
  const std::vector<SmsQuota> user_only = {{"sms:user:1", 5}};
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(
        must(store().sms_reserve(code(alice_, 7, "u" + std::to_string(i)), 0, kDay, user_only))
            .code_id,
        0);
  }
  EXPECT_EQ(must(store().sms_reserve(code(alice_, 7, "u9"), 0, kDay, user_only)).over_quota,
            "sms:user:1");
  // Another day is a new count; a zero limit refuses everything.
  EXPECT_GT(must(store().sms_reserve(code(alice_, 7, "n5"), 0, kDay + 1, quotas)).code_id, 0);
  EXPECT_EQ(must(store().sms_reserve(code(alice_, 7, "n6"), 0, kDay + 1, {{"off", 0}})).over_quota,
            "off");
}

TEST_P(SmsStoreContract, CancelDeletesTheCodeAndGivesTheQuotaBack) {
  const std::vector<SmsQuota> quotas = {{"q", 1}};
  SmsReservation r = must(store().sms_reserve(code(alice_, 7, "n1"), 60, kDay, quotas));
  ASSERT_GT(r.code_id, 0);
  EXPECT_EQ(must(store().sms_reserve(code(alice_, 7, "n2"), 60, kDay, quotas)).over_quota, "q");
  must_ok(store().sms_cancel(r.code_id, kDay, {"q"}));
  // The cool-down of n1 and the quota are free again.
  SmsReservation again = must(store().sms_reserve(code(alice_, 7, "n1"), 60, kDay, quotas));
  EXPECT_GT(again.code_id, 0);
  // Cancelling twice never drives a count below zero.
  must_ok(store().sms_cancel(again.code_id, kDay, {"q"}));
  must_ok(store().sms_cancel(again.code_id, kDay, {"q"}));
  EXPECT_GT(must(store().sms_reserve(code(alice_, 7, "n3"), 60, kDay, quotas)).code_id, 0);
  EXPECT_EQ(must(store().sms_reserve(code(alice_, 7, "n4"), 60, kDay, quotas)).over_quota, "q");
}

TEST_P(SmsStoreContract, LatestIsTheNewestSentOfThatPurposeAndMethod) {
  int64_t first = sent(code(alice_, 7, "n1", kNow));
  int64_t second = sent(code(alice_, 8, "n2", kNow + 1));
  int64_t enroll = sent(code(alice_, 7, "n1", kNow + 2, "enroll"));
  must(store().sms_reserve(code(alice_, 7, "n3", kNow + 3), 60, kDay, {}));  // unsent
  EXPECT_EQ(must(store().sms_latest_code(alice_, 0, "auth")).id, second);
  EXPECT_EQ(must(store().sms_latest_code(alice_, 7, "auth")).id, first);
  EXPECT_EQ(must(store().sms_latest_code(alice_, 7, "enroll")).id, enroll);
  EXPECT_EQ(store().sms_latest_code(bob_, 0, "auth").error().code, core::Code::kNotFound);
  EXPECT_EQ(store().sms_latest_code(alice_, 9, "auth").error().code, core::Code::kNotFound);
}

TEST_P(SmsStoreContract, AttemptsStopAtTheMaximumAndAtExpiry) {
  int64_t id = sent(code(alice_, 7, "n1"));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(must(store().sms_spend_attempt(id, 3, kNow + 1)));
  EXPECT_FALSE(must(store().sms_spend_attempt(id, 3, kNow + 1)));
  EXPECT_EQ(must(store().sms_latest_code(alice_, 7, "auth")).attempts, 3);
  int64_t other = sent(code(alice_, 8, "n2"));
  EXPECT_FALSE(must(store().sms_spend_attempt(other, 3, kNow + 300)));  // expired
  EXPECT_TRUE(must(store().sms_spend_attempt(other, 3, kNow + 299)));
  EXPECT_FALSE(must(store().sms_spend_attempt(424242, 3, kNow)));
}

TEST_P(SmsStoreContract, ConsumeIsUseOnceAndNotAfterExpiry) {
  int64_t id = sent(code(alice_, 7, "n1"));
  EXPECT_FALSE(must(store().sms_consume(id, kNow + 300)));
  EXPECT_TRUE(must(store().sms_consume(id, kNow + 10)));
  EXPECT_FALSE(must(store().sms_consume(id, kNow + 11)));
  EXPECT_FALSE(must(store().sms_spend_attempt(id, 5, kNow + 12)));  // used: no more attempts
  EXPECT_EQ(must(store().sms_latest_code(alice_, 7, "auth")).used_at, kNow + 10);
}

TEST_P(SmsStoreContract, ConcurrentConsumeWinsOnce) {
  int64_t id = sent(code(alice_, 7, "n1"));
  std::atomic<int> wins{0};
  std::atomic<int> errors{0};
  in_parallel(8, [&](int) {
    auto r = store().sms_consume(id, kNow + 1);
    if (!r) {
      ++errors;
    } else if (*r) {
      ++wins;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wins.load(), 1);
}

TEST_P(SmsStoreContract, ConcurrentAttemptsNeverExceedTheMaximum) {
  int64_t id = sent(code(alice_, 7, "n1"));
  std::atomic<int> granted{0};
  std::atomic<int> errors{0};
  in_parallel(16, [&](int) {
    auto r = store().sms_spend_attempt(id, 5, kNow + 1);
    if (!r) {
      ++errors;
    } else if (*r) {
      ++granted;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(granted.load(), 5);
  EXPECT_EQ(must(store().sms_latest_code(alice_, 7, "auth")).attempts, 5);
}

TEST_P(SmsStoreContract, ConcurrentReservationsRespectQuotaAndCooldown) {
  std::atomic<int> reserved{0};
  std::atomic<int> cooled{0};
  std::atomic<int> over{0};
  std::atomic<int> errors{0};
  // 12 requests for 4 numbers (3 each, the same second) under a quota of 3: 3 numbers get one
  // code each and hold back their 2 other requests; the 4th number finds the quota full.
  in_parallel(12, [&](int i) {
    auto r = store().sms_reserve(code(alice_, 7, "n" + std::to_string(i % 4)), 60, kDay,
                                 {{"sms:user:a", 3}});
    if (!r) {
      ++errors;
    } else if (r->code_id > 0) {
      ++reserved;
    } else if (r->retry_after_s > 0) {
      ++cooled;
    } else if (r->over_quota == "sms:user:a") {
      ++over;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(reserved.load(), 3);
  EXPECT_EQ(cooled.load(), 6);
  EXPECT_EQ(over.load(), 3);
}

TEST_P(SmsStoreContract, PurgeDropsOldCodesAndOldCounts) {
  int64_t old_id = sent(code(alice_, 7, "n1", kNow - 2 * 86400));
  int64_t fresh = sent(code(alice_, 7, "n2", kNow));
  must(store().sms_reserve(code(alice_, 7, "n3", kNow), 0, kDay - 2, {{"q", 1}}));
  EXPECT_EQ(must(store().sms_purge(kNow - 86400, kDay - 1)), 1);
  EXPECT_EQ(must(store().sms_latest_code(alice_, 7, "auth")).id, fresh);
  EXPECT_FALSE(must(store().sms_consume(old_id, kNow)));
  // The old day's count is gone: the quota of that day is free again.
  EXPECT_GT(must(store().sms_reserve(code(alice_, 7, "n4", kNow), 0, kDay - 2, {{"q", 1}})).code_id,
            0);
}

TEST_P(SmsStoreContract, CodesNeedAUser) {
  auto r = store().sms_reserve(code(424242, 7, "n1"), 60, kDay, {{"q", 1}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kNotFound);
  // Nothing was counted.
  EXPECT_GT(must(store().sms_reserve(code(alice_, 7, "n1"), 60, kDay, {{"q", 1}})).code_id, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, SmsStoreContract,
                         ::testing::ValuesIn(contract::store_factories()), contract::backend_name);

}  // namespace
}  // namespace twostep::store
