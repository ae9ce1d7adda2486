// The SMS quotas shared by many accounts (a number, an address, a region's budget) under
// concurrency: reservations of different users race for the last units of one quota, which a
// per-user lock does not serialise. Exactly `limit` win, on every backend — PostgreSQL runs
// them side by side, so its reservation must count atomically per quota, and a quota found
// full must take back what the reservation already counted on the quotas before it.
#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace twostep::store {
namespace {

using contract::kNow;
using contract::must;

constexpr int64_t kDay = kNow / 86400;

class SmsQuotaContract : public contract::ContractFixture {
 protected:
  void SetUp() override {
    ContractFixture::SetUp();
    for (int i = 0; i < kUsers; ++i) {
      users_.push_back(user("u" + std::to_string(i)).id);
    }
  }

  static SmsCode code(int64_t user_id, int64_t at = kNow) {
    SmsCode c;
    c.user_id = user_id;
    c.method_id = 1;
    c.purpose = "auth";
    c.number_hash = "number-" + std::to_string(user_id);
    c.code_hash = "code-hash";
    c.created_at = at;
    c.expires_at = at + 300;
    return c;
  }

  static constexpr int kUsers = 12;
  std::vector<int64_t> users_;
};

TEST_P(SmsQuotaContract, UsersRacingForASharedQuotaGetExactlyTheLimit) {
  std::atomic<int> over{0};
  std::atomic<int> errors{0};
  std::vector<char> won(kUsers, 0);
  in_parallel(kUsers, [&](int i) {
    auto r =
        store().sms_reserve(code(users_[i]), 60, kDay,
                            {{"sms:user:" + std::to_string(users_[i]), 1}, {"sms:region:CH", 5}});
    if (!r) {
      ++errors;
    } else if (r->code_id > 0) {
      won[i] = 1;
    } else if (r->over_quota == "sms:region:CH") {
      ++over;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(std::count(won.begin(), won.end(), 1), 5);
  EXPECT_EQ(over.load(), kUsers - 5);
  // A refused reservation took back what it had counted on the quota before the full one: the
  // per-user quota of 1 is spent for the winners only.
  for (int i = 0; i < kUsers; ++i) {
    auto r = must(store().sms_reserve(code(users_[i], kNow + 120), 60, kDay,
                                      {{"sms:user:" + std::to_string(users_[i]), 1}}));
    if (won[i] != 0) {
      EXPECT_EQ(r.over_quota, "sms:user:" + std::to_string(users_[i]));
    } else {
      EXPECT_GT(r.code_id, 0) << "user " << users_[i] << " was refused but still counted";
    }
  }
  // And the region stays full.
  auto late =
      must(store().sms_reserve(code(users_[0], kNow + 240), 60, kDay, {{"sms:region:CH", 5}}));
  EXPECT_EQ(late.over_quota, "sms:region:CH");
}

TEST_P(SmsQuotaContract, AZeroLimitRefusesTheFirst) {
  auto r = must(store().sms_reserve(code(users_[0]), 60, kDay, {{"sms:region:XX", 0}}));
  EXPECT_EQ(r.code_id, 0);
  EXPECT_EQ(r.over_quota, "sms:region:XX");
}

INSTANTIATE_TEST_SUITE_P(Backends, SmsQuotaContract,
                         ::testing::ValuesIn(contract::store_factories()), contract::backend_name);

}  // namespace
}  // namespace twostep::store
