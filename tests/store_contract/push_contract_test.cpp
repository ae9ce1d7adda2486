// The store contract for push approval: enrolment links, devices and their replay guard,
// approvals decided exactly once. Runs against every backend of store_factories().
#include <atomic>
#include <string>

#include "fixture.hpp"

namespace twostep::store {
namespace {

using contract::kNow;
using contract::must;
using contract::must_ok;
using core::Code;

class PushStoreContract : public contract::ContractFixture {
 protected:
  Session pending_session(int64_t user_id, const std::string& token_hash) {
    return session_for(user_id, token_hash, SessionState::kPendingSecondFactor);
  }

  Method push_method(int64_t user_id) {
    Method m;
    m.user_id = user_id;
    m.type = "push";
    m.label = "phone";
    m.params = "ref=1";
    m.created_at = kNow;
    return must(store().create_method(m));
  }

  PushDevice device_for(const Method& m, const std::string& device_id) {
    PushDevice d;
    d.method_id = m.id;
    d.user_id = m.user_id;
    d.device_id = device_id;
    d.public_key = std::string(32, '\x01');
    d.name = "phone";
    d.created_at = kNow;
    d.last_request_ms = kNow * 1000;
    return d;
  }

  Approval approval_for(const Session& s, int64_t expires_at = kNow + 120) {
    Approval a;
    a.user_id = s.user_id;
    a.session_id = s.id;
    a.number = 42;
    a.choices = "17,42,88";
    a.created_at = kNow;
    a.expires_at = expires_at;
    a.ip = "192.0.2.9";
    a.user_agent = "Firefox";
    return must(store().create_approval(a));
  }
};

TEST_P(PushStoreContract, EnrolmentLinkIsUsedOnceAndExpires) {
  auto u = user("alice");
  auto m = push_method(u.id);
  must_ok(store().create_push_enrollment({"hash-1", u.id, m.id, kNow, kNow + 600, 0}));
  must_ok(store().create_push_enrollment({"hash-2", u.id, m.id, kNow, kNow + 600, 0}));
  auto dup = store().create_push_enrollment({"hash-1", u.id, m.id, kNow, kNow + 600, 0});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Code::kAlreadyExists);

  auto used = must(store().use_push_enrollment("hash-1", kNow + 10));
  EXPECT_EQ(used.user_id, u.id);
  EXPECT_EQ(used.method_id, m.id);
  EXPECT_EQ(used.used_at, kNow + 10);
  EXPECT_EQ(store().use_push_enrollment("hash-1", kNow + 11).error().code, Code::kNotFound);
  EXPECT_EQ(store().use_push_enrollment("nope", kNow).error().code, Code::kNotFound);
  EXPECT_EQ(store().use_push_enrollment("hash-2", kNow + 600).error().code, Code::kNotFound);
  // A link for a method of another user cannot exist, nor one for no method.
  EXPECT_FALSE(store().create_push_enrollment({"hash-3", u.id, m.id + 99, kNow, kNow + 600, 0}));
}

TEST_P(PushStoreContract, ConcurrentUsesOfOneLinkHaveOneWinner) {
  auto u = user("alice");
  auto m = push_method(u.id);
  must_ok(store().create_push_enrollment({"hash", u.id, m.id, kNow, kNow + 600, 0}));
  std::atomic<int> wins{0}, errors{0};
  in_parallel(8, [&](int) {
    auto r = store().use_push_enrollment("hash", kNow + 1);
    if (r) {
      ++wins;
    } else if (r.error().code != Code::kNotFound) {
      ++errors;
    }
  });
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(errors.load(), 0);
}

TEST_P(PushStoreContract, AttachingADeviceStoresTheSeedOnlyOnAnUnconfirmedPushMethod) {
  auto u = user("alice");
  auto bob = user("bob");
  auto m = push_method(u.id);
  auto d = must(store().attach_push_device(device_for(m, "dev-1"), "sealed-seed"));
  EXPECT_GT(d.id, 0);
  EXPECT_EQ(d.public_key, std::string(32, '\x01'));
  EXPECT_EQ(must(store().method_of_user(u.id, m.id)).secret, "sealed-seed");
  EXPECT_EQ(must(store().push_device_by_device_id("dev-1")).method_id, m.id);
  EXPECT_EQ(must(store().push_devices_of_user(u.id)).size(), 1u);
  EXPECT_TRUE(must(store().push_devices_of_user(bob.id)).empty());

  // One device per method; device ids are unique.
  auto second = store().attach_push_device(device_for(m, "dev-2"), "x");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Code::kAlreadyExists);
  EXPECT_EQ(must(store().method_of_user(u.id, m.id)).secret, "sealed-seed");  // rolled back
  auto m2 = push_method(u.id);
  EXPECT_EQ(store().attach_push_device(device_for(m2, "dev-1"), "x").error().code,
            Code::kAlreadyExists);
  // Not for another user's method, not for a confirmed one, not for another type.
  auto foreign = device_for(m2, "dev-3");
  foreign.user_id = bob.id;
  EXPECT_EQ(store().attach_push_device(foreign, "x").error().code, Code::kNotFound);
  must_ok(store().confirm_method(u.id, m2.id, kNow));
  EXPECT_EQ(store().attach_push_device(device_for(m2, "dev-4"), "x").error().code, Code::kNotFound);
  Method totp = push_method(u.id);
  totp.type = "totp";
  auto t = must(store().create_method(totp));
  EXPECT_EQ(store().attach_push_device(device_for(t, "dev-5"), "x").error().code, Code::kNotFound);
  EXPECT_EQ(store().push_device_by_device_id("dev-5").error().code, Code::kNotFound);
}

TEST_P(PushStoreContract, DeletingTheMethodRevokesTheDevice) {
  auto u = user("alice");
  auto m = push_method(u.id);
  must_ok(store().create_push_enrollment({"hash", u.id, m.id, kNow, kNow + 600, 0}));
  must(store().attach_push_device(device_for(m, "dev"), "s"));
  must_ok(store().delete_method(u.id, m.id));
  EXPECT_EQ(store().push_device_by_device_id("dev").error().code, Code::kNotFound);
  EXPECT_EQ(store().use_push_enrollment("hash", kNow).error().code, Code::kNotFound);
}

TEST_P(PushStoreContract, DeviceClockOnlyMovesForward) {
  auto u = user("alice");
  auto d = must(store().attach_push_device(device_for(push_method(u.id), "dev"), "s"));
  const int64_t t0 = d.last_request_ms;
  EXPECT_TRUE(must(store().advance_push_device_clock(d.id, t0 + 1, kNow + 1)));
  EXPECT_FALSE(must(store().advance_push_device_clock(d.id, t0 + 1, kNow + 1)));  // replay
  EXPECT_FALSE(must(store().advance_push_device_clock(d.id, t0, kNow + 1)));      // older
  EXPECT_TRUE(must(store().advance_push_device_clock(d.id, t0 + 500, kNow + 2)));
  auto after = must(store().push_device_by_device_id("dev"));
  EXPECT_EQ(after.last_request_ms, t0 + 500);
  EXPECT_EQ(after.last_seen_at, kNow + 2);
  EXPECT_EQ(store().advance_push_device_clock(d.id + 99, t0 + 900, kNow).error().code,
            Code::kNotFound);
}

TEST_P(PushStoreContract, OneSignedRequestIsAcceptedOnceUnderConcurrency) {
  auto u = user("alice");
  auto d = must(store().attach_push_device(device_for(push_method(u.id), "dev"), "s"));
  std::atomic<int> wins{0};
  in_parallel(8, [&](int) {
    if (must(store().advance_push_device_clock(d.id, d.last_request_ms + 7, kNow))) ++wins;
  });
  EXPECT_EQ(wins.load(), 1);
}

TEST_P(PushStoreContract, ApprovalIsDecidedOnceAndReadsExpiredWhenLate) {
  auto u = user("alice");
  auto s = pending_session(u.id, "t1");
  auto a = approval_for(s);
  EXPECT_EQ(a.state, ApprovalState::kPending);
  EXPECT_EQ(a.number, 42);
  EXPECT_EQ(a.choices, "17,42,88");
  EXPECT_EQ(a.ip, "192.0.2.9");

  EXPECT_TRUE(
      must(store().decide_approval(u.id, a.id, ApprovalState::kApproved, "push:1", kNow + 5)));
  EXPECT_FALSE(
      must(store().decide_approval(u.id, a.id, ApprovalState::kDenied, "session:2", kNow + 6)));
  auto read = must(store().approval_of_user(u.id, a.id, kNow + 500));
  EXPECT_EQ(read.state, ApprovalState::kApproved);  // decided ones never read as expired
  EXPECT_EQ(read.decided_by, "push:1");
  EXPECT_EQ(read.decided_at, kNow + 5);

  auto late = approval_for(s, kNow + 120);
  EXPECT_EQ(must(store().approval_of_user(u.id, late.id, kNow + 119)).state,
            ApprovalState::kPending);
  EXPECT_EQ(must(store().approval_of_user(u.id, late.id, kNow + 120)).state,
            ApprovalState::kExpired);
  EXPECT_FALSE(
      must(store().decide_approval(u.id, late.id, ApprovalState::kApproved, "x", kNow + 120)));

  // Only approved/denied can be written; other users' rows are not found.
  EXPECT_FALSE(store().decide_approval(u.id, late.id, ApprovalState::kPending, "x", kNow));
  auto bob = user("bob");
  EXPECT_EQ(
      store().decide_approval(bob.id, late.id, ApprovalState::kDenied, "x", kNow).error().code,
      Code::kNotFound);
  EXPECT_EQ(store().approval_of_user(bob.id, late.id, kNow).error().code, Code::kNotFound);
}

TEST_P(PushStoreContract, ConcurrentDecisionsHaveExactlyOneWinner) {
  auto u = user("alice");
  auto s = pending_session(u.id, "t1");
  for (int round = 0; round < 3; ++round) {
    auto a = approval_for(s);
    std::atomic<int> wins{0}, errors{0};
    in_parallel(8, [&](int i) {
      auto r = store().decide_approval(u.id, a.id,
                                       i % 2 ? ApprovalState::kApproved : ApprovalState::kDenied,
                                       "t" + std::to_string(i), kNow + 1);
      if (!r) {
        ++errors;
      } else if (*r) {
        ++wins;
      }
    });
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(errors.load(), 0);
  }
}

TEST_P(PushStoreContract, OnlyTheAskingSessionConsumesAnApprovedRequestOnce) {
  auto u = user("alice");
  auto s = pending_session(u.id, "t1");
  auto other = pending_session(u.id, "t2");
  auto a = approval_for(s);
  EXPECT_FALSE(must(store().consume_approval(s.id, a.id, kNow)));  // still pending
  must(store().decide_approval(u.id, a.id, ApprovalState::kApproved, "push:1", kNow));
  EXPECT_FALSE(must(store().consume_approval(other.id, a.id, kNow)));
  std::atomic<int> wins{0};
  in_parallel(6, [&](int) {
    if (must(store().consume_approval(s.id, a.id, kNow + 1))) ++wins;
  });
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(must(store().approval_of_user(u.id, a.id, kNow)).consumed_at, kNow + 1);

  auto denied = approval_for(s);
  must(store().decide_approval(u.id, denied.id, ApprovalState::kDenied, "push:1", kNow));
  EXPECT_FALSE(must(store().consume_approval(s.id, denied.id, kNow)));
}

TEST_P(PushStoreContract, PendingListsOnlyLiveRequestsOfTheUser) {
  auto u = user("alice");
  auto bob = user("bob");
  auto s = pending_session(u.id, "t1");
  auto b = pending_session(bob.id, "t2");
  auto first = approval_for(s);
  auto decided = approval_for(s);
  auto expired = approval_for(s, kNow + 10);
  auto second = approval_for(s);
  approval_for(b);
  must(store().decide_approval(u.id, decided.id, ApprovalState::kDenied, "x", kNow));
  auto list = must(store().pending_approvals_of_user(u.id, kNow + 10));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, first.id);
  EXPECT_EQ(list[1].id, second.id);
  (void)expired;
}

TEST_P(PushStoreContract, EndingTheSessionRemovesItsRequestsAndStaleRowsArePurged) {
  auto u = user("alice");
  auto s = pending_session(u.id, "t1");
  auto s2 = pending_session(u.id, "t2");
  auto a = approval_for(s);
  auto keep = approval_for(s2, kNow + 5000);
  approval_for(s2, kNow + 100);
  must_ok(store().delete_session(s.id));
  EXPECT_EQ(store().approval_of_user(u.id, a.id, kNow).error().code, Code::kNotFound);
  auto m = push_method(u.id);
  must_ok(store().create_push_enrollment({"old", u.id, m.id, kNow, kNow + 100, 0}));
  must_ok(store().create_push_enrollment({"new", u.id, m.id, kNow, kNow + 5000, 0}));
  EXPECT_EQ(must(store().delete_stale_push_rows(kNow + 1000)), 2);  // one approval, one link
  EXPECT_EQ(must(store().approval_of_user(u.id, keep.id, kNow)).id, keep.id);
  EXPECT_EQ(store().use_push_enrollment("old", kNow).error().code, Code::kNotFound);
  EXPECT_TRUE(store().use_push_enrollment("new", kNow));
  // A request needs a live session.
  Approval orphan = keep;
  orphan.session_id = s.id;
  EXPECT_EQ(store().create_approval(orphan).error().code, Code::kNotFound);
}

TEST_P(PushStoreContract, ASignInCompletedAnotherWayClosesItsRequests) {
  auto u = user("alice");
  auto s = pending_session(u.id, "t1");
  auto a = approval_for(s);
  EXPECT_EQ(must(store().pending_approvals_of_user(u.id, kNow)).size(), 1u);
  must_ok(store().upgrade_session(s.id, "t1-full", SessionState::kFull, kNow, kNow + 3600));
  EXPECT_TRUE(must(store().pending_approvals_of_user(u.id, kNow)).empty());
  EXPECT_EQ(must(store().approval_of_user(u.id, a.id, kNow)).state, ApprovalState::kExpired);
  EXPECT_FALSE(must(store().decide_approval(u.id, a.id, ApprovalState::kApproved, "x", kNow)));
}

TEST_P(PushStoreContract, ApprovalIdsAreNeverReused) {
  // A late answer to a request that is gone must not reach a newer one.
  auto u = user("alice");
  auto s = pending_session(u.id, "t1");
  auto first = approval_for(s);
  must_ok(store().delete_session(s.id));  // the request goes with its sign-in
  auto s2 = pending_session(u.id, "t2");
  auto second = approval_for(s2);
  EXPECT_GT(second.id, first.id);
  EXPECT_EQ(store().approval_of_user(u.id, first.id, kNow).error().code, Code::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Backends, PushStoreContract,
                         ::testing::ValuesIn(contract::store_factories()), contract::backend_name);

}  // namespace
}  // namespace twostep::store
