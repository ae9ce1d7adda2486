// The store contract for organisations: memberships and roles, the last-owner rule under
// concurrency, the 2FA policy, the organisation's audit log, and the session restriction that
// enforces the policy. Runs against every entry of store_factories().
#include <atomic>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace twostep::store {
namespace {

using contract::kNow;
using contract::must;
using contract::must_ok;
using core::Code;

class OrgStoreContract : public contract::ContractFixture {
 protected:
  Method method_for(int64_t user_id, const std::string& type, bool confirmed) {
    Method m;
    m.user_id = user_id;
    m.type = type;
    m.label = type;
    m.secret = "sealed";
    m.confirmed = confirmed;
    m.created_at = kNow;
    return must(store().create_method(m));
  }

  SessionState state_of(const std::string& token_hash) {
    return must(store().session_by_token_hash(token_hash)).state;
  }

  int owners(int64_t org_id) {
    int n = 0;
    for (const auto& m : must(store().org_members(org_id))) n += m.role == OrgRole::kOwner;
    return n;
  }
};

TEST_P(OrgStoreContract, CreateMakesTheCreatorOwner) {
  User alice = user("alice");
  Org org = must(store().create_org("Acme", alice.id, kNow));
  EXPECT_GT(org.id, 0);
  EXPECT_EQ(org.name, "Acme");
  EXPECT_EQ(org.created_at, kNow);
  EXPECT_FALSE(org.require_2fa);
  EXPECT_EQ(org.grace_days, 0);
  EXPECT_EQ(org.policy_since, 0);

  auto members = must(store().org_members(org.id));
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].user_id, alice.id);
  EXPECT_EQ(members[0].username, "alice");
  EXPECT_EQ(members[0].role, OrgRole::kOwner);
  EXPECT_EQ(members[0].added_at, kNow);

  EXPECT_EQ(must(store().org_by_id(org.id)).name, "Acme");
  EXPECT_EQ(must(store().org_by_name("acme")).id, org.id);  // case-insensitive
  ASSERT_EQ(must(store().list_orgs()).size(), 1u);
}

TEST_P(OrgStoreContract, NamesAreUniqueAndOwnerMustExist) {
  User alice = user("alice");
  must(store().create_org("Acme", alice.id, kNow));
  auto dup = store().create_org("ACME", alice.id, kNow);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Code::kAlreadyExists);
  EXPECT_EQ(dup.error().reason, "org_name_taken");

  // A missing owner leaves nothing behind (one transaction).
  EXPECT_CODE(store().create_org("Ghosts", 9999, kNow), Code::kNotFound);
  EXPECT_CODE(store().org_by_name("Ghosts"), Code::kNotFound);
  EXPECT_EQ(must(store().list_orgs()).size(), 1u);
  EXPECT_CODE(store().org_by_id(9999), Code::kNotFound);
}

TEST_P(OrgStoreContract, MembershipsAndRoles) {
  User alice = user("alice");
  User bob = user("bob");
  User carol = user("carol");
  Org a = must(store().create_org("A", alice.id, kNow));
  Org b = must(store().create_org("B", carol.id, kNow));
  must_ok(store().add_org_member(a.id, bob.id, OrgRole::kAdmin, kNow + 5));
  must_ok(store().add_org_member(b.id, bob.id, OrgRole::kMember, kNow + 6));

  auto dup = store().add_org_member(a.id, bob.id, OrgRole::kMember, kNow);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Code::kAlreadyExists);
  EXPECT_EQ(dup.error().reason, "already_member");
  EXPECT_CODE(store().add_org_member(a.id, 9999, OrgRole::kMember, kNow), Code::kNotFound);
  EXPECT_CODE(store().add_org_member(9999, bob.id, OrgRole::kMember, kNow), Code::kNotFound);

  auto mine = must(store().orgs_of_user(bob.id));
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].org.id, a.id);
  EXPECT_EQ(mine[0].role, OrgRole::kAdmin);
  EXPECT_EQ(mine[0].added_at, kNow + 5);
  EXPECT_EQ(mine[1].org.name, "B");
  EXPECT_EQ(mine[1].role, OrgRole::kMember);
  EXPECT_TRUE(must(store().orgs_of_user(user("dave").id)).empty());

  auto bob_in_a = must(store().org_member(a.id, bob.id));
  EXPECT_EQ(bob_in_a.role, OrgRole::kAdmin);
  EXPECT_EQ(bob_in_a.username, "bob");
  EXPECT_CODE(store().org_member(a.id, carol.id), Code::kNotFound);

  must_ok(store().set_org_member_role(a.id, bob.id, OrgRole::kMember));
  EXPECT_EQ(must(store().org_member(a.id, bob.id)).role, OrgRole::kMember);
  // Roles are per organisation.
  EXPECT_EQ(must(store().org_member(b.id, bob.id)).role, OrgRole::kMember);
  EXPECT_CODE(store().set_org_member_role(a.id, carol.id, OrgRole::kAdmin), Code::kNotFound);

  must_ok(store().remove_org_member(a.id, bob.id));
  EXPECT_CODE(store().org_member(a.id, bob.id), Code::kNotFound);
  EXPECT_CODE(store().remove_org_member(a.id, bob.id), Code::kNotFound);
  EXPECT_EQ(must(store().orgs_of_user(bob.id)).size(), 1u);

  // Members come sorted by username.
  must_ok(store().add_org_member(a.id, carol.id, OrgRole::kMember, kNow));
  must_ok(store().add_org_member(a.id, bob.id, OrgRole::kMember, kNow));
  auto members = must(store().org_members(a.id));
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].username, "alice");
  EXPECT_EQ(members[1].username, "bob");
  EXPECT_EQ(members[2].username, "carol");
  EXPECT_TRUE(must(store().org_members(9999)).empty());
}

TEST_P(OrgStoreContract, MembersShowConfirmedMethodTypesAndLastSignIn) {
  User alice = user("alice");
  User bob = user("bob");
  Org org = must(store().create_org("A", alice.id, kNow));
  must_ok(store().add_org_member(org.id, bob.id, OrgRole::kMember, kNow));
  method_for(bob.id, "totp", true);
  method_for(bob.id, "totp", true);
  method_for(bob.id, "sms", true);
  method_for(bob.id, "webauthn", false);  // unconfirmed: not shown
  must_ok(store().set_last_login(bob.id, kNow + 42));

  auto bob_row = must(store().org_member(org.id, bob.id));
  EXPECT_EQ(bob_row.method_types, (std::vector<std::string>{"sms", "totp"}));
  EXPECT_EQ(bob_row.last_login_at, kNow + 42);
  auto alice_row = must(store().org_member(org.id, alice.id));
  EXPECT_TRUE(alice_row.method_types.empty());
  EXPECT_EQ(alice_row.last_login_at, 0);
}

TEST_P(OrgStoreContract, LastOwnerCannotBeDemotedOrRemoved) {
  User alice = user("alice");
  User bob = user("bob");
  Org org = must(store().create_org("A", alice.id, kNow));
  must_ok(store().add_org_member(org.id, bob.id, OrgRole::kMember, kNow));

  auto demote = store().set_org_member_role(org.id, alice.id, OrgRole::kAdmin);
  ASSERT_FALSE(demote);
  EXPECT_EQ(demote.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(demote.error().reason, "last_owner");
  auto remove = store().remove_org_member(org.id, alice.id);
  ASSERT_FALSE(remove);
  EXPECT_EQ(remove.error().reason, "last_owner");
  EXPECT_EQ(must(store().org_member(org.id, alice.id)).role, OrgRole::kOwner);
  // Owner to owner is not a demotion.
  must_ok(store().set_org_member_role(org.id, alice.id, OrgRole::kOwner));

  // With a second owner, either may go.
  must_ok(store().set_org_member_role(org.id, bob.id, OrgRole::kOwner));
  must_ok(store().set_org_member_role(org.id, alice.id, OrgRole::kMember));
  EXPECT_EQ(owners(org.id), 1);
  EXPECT_CODE(store().remove_org_member(org.id, bob.id), Code::kFailedPrecondition);
  must_ok(store().set_org_member_role(org.id, alice.id, OrgRole::kOwner));
  must_ok(store().remove_org_member(org.id, bob.id));
  EXPECT_EQ(owners(org.id), 1);
}

TEST_P(OrgStoreContract, TwoOwnersLeavingAtOnceLeaveOneOwner) {
  for (int round = 0; round < 10; ++round) {
    User a = user("a" + std::to_string(round));
    User b = user("b" + std::to_string(round));
    Org org = must(store().create_org("Org " + std::to_string(round), a.id, kNow));
    must_ok(store().add_org_member(org.id, b.id, OrgRole::kOwner, kNow));
    std::atomic<int> won{0};
    std::atomic<int> refused{0};
    const bool remove = round % 2 == 0;
    in_parallel(2, [&](int i) {
      int64_t uid = i == 0 ? a.id : b.id;
      auto st = remove ? store().remove_org_member(org.id, uid)
                       : store().set_org_member_role(org.id, uid, OrgRole::kMember);
      if (st) {
        won++;
      } else if (st.error().reason == "last_owner") {
        refused++;
      }
    });
    EXPECT_EQ(won.load(), 1) << "round " << round;
    EXPECT_EQ(refused.load(), 1) << "round " << round;
    EXPECT_EQ(owners(org.id), 1) << "round " << round;
  }
}

TEST_P(OrgStoreContract, PolicySinceFollowsRequire2fa) {
  User alice = user("alice");
  Org org = must(store().create_org("A", alice.id, kNow));
  Org on = must(store().set_org_policy(org.id, true, 7, kNow + 10));
  EXPECT_TRUE(on.require_2fa);
  EXPECT_EQ(on.grace_days, 7);
  EXPECT_EQ(on.policy_since, kNow + 10);
  // Changing the grace period while on keeps the start.
  Org regrace = must(store().set_org_policy(org.id, true, 3, kNow + 20));
  EXPECT_EQ(regrace.grace_days, 3);
  EXPECT_EQ(regrace.policy_since, kNow + 10);
  Org off = must(store().set_org_policy(org.id, false, 3, kNow + 30));
  EXPECT_FALSE(off.require_2fa);
  EXPECT_EQ(off.policy_since, 0);
  Org again = must(store().set_org_policy(org.id, true, 0, kNow + 40));
  EXPECT_EQ(again.policy_since, kNow + 40);
  EXPECT_EQ(must(store().org_by_id(org.id)).policy_since, kNow + 40);
  EXPECT_TRUE(must(store().orgs_of_user(alice.id))[0].org.require_2fa);
  EXPECT_CODE(store().set_org_policy(9999, true, 0, kNow), Code::kNotFound);
}

TEST_P(OrgStoreContract, OrgAuditIsNewestFirstPerOrgWithNames) {
  User alice = user("alice");
  User bob = user("bob");
  Org a = must(store().create_org("A", alice.id, kNow));
  Org b = must(store().create_org("B", alice.id, kNow));
  OrgAuditEvent e;
  e.org_id = a.id;
  e.at = kNow;
  e.actor_id = alice.id;
  e.subject_id = bob.id;
  e.event = "member_added";
  e.ip = "192.0.2.1";
  e.user_agent = "ua";
  e.detail = R"({"role":"member"})";
  must_ok(store().append_org_audit(e));
  e.at = kNow + 1;
  e.actor_id = 0;  // operator
  e.subject_id = 0;
  e.event = "policy_changed";
  must_ok(store().append_org_audit(e));
  e.org_id = b.id;
  e.event = "elsewhere";
  must_ok(store().append_org_audit(e));

  auto log = must(store().org_audit(a.id, 10));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].event, "policy_changed");
  EXPECT_EQ(log[0].actor_name, "");
  EXPECT_EQ(log[0].subject_name, "");
  EXPECT_EQ(log[1].event, "member_added");
  EXPECT_EQ(log[1].actor_name, "alice");
  EXPECT_EQ(log[1].subject_name, "bob");
  EXPECT_EQ(log[1].ip, "192.0.2.1");
  EXPECT_EQ(log[1].detail, R"({"role":"member"})");
  EXPECT_EQ(must(store().org_audit(a.id, 1)).size(), 1u);
  EXPECT_EQ(must(store().org_audit(b.id, 10)).size(), 1u);
  // The organisation's log stays out of the user's own log.
  EXPECT_TRUE(must(store().audit_of_user(alice.id, 10)).empty());
}

TEST_P(OrgStoreContract, RestrictAndLiftSessions) {
  User alice = user("alice");
  User bob = user("bob");
  session_for(alice.id, "a-full");
  session_for(alice.id, "a-pending", SessionState::kPendingSecondFactor);
  session_for(bob.id, "b-full");

  EXPECT_EQ(must(store().restrict_sessions_without_2fa(alice.id)), 1);
  EXPECT_EQ(state_of("a-full"), SessionState::kEnrollmentRequired);
  EXPECT_EQ(state_of("a-pending"), SessionState::kPendingSecondFactor);
  EXPECT_EQ(state_of("b-full"), SessionState::kFull);  // only that user
  EXPECT_EQ(must(store().restrict_sessions_without_2fa(alice.id)), 0);

  EXPECT_EQ(must(store().lift_restricted_sessions(alice.id)), 1);
  EXPECT_EQ(state_of("a-full"), SessionState::kFull);
  EXPECT_EQ(state_of("a-pending"), SessionState::kPendingSecondFactor);
  EXPECT_EQ(must(store().lift_restricted_sessions(alice.id)), 0);

  // A confirmed method protects the sessions; an unconfirmed one does not.
  method_for(bob.id, "totp", false);
  EXPECT_EQ(must(store().restrict_sessions_without_2fa(bob.id)), 1);
  must(store().lift_restricted_sessions(bob.id));
  method_for(bob.id, "totp", true);
  EXPECT_EQ(must(store().restrict_sessions_without_2fa(bob.id)), 0);
  EXPECT_EQ(state_of("b-full"), SessionState::kFull);

  // Nor is a restricted session of a user who has a method by now lifted.
  session_for(bob.id, "b-restricted", SessionState::kEnrollmentRequired);
  EXPECT_EQ(must(store().lift_restricted_sessions(bob.id)), 0);
  EXPECT_EQ(state_of("b-restricted"), SessionState::kEnrollmentRequired);
}

INSTANTIATE_TEST_SUITE_P(Backends, OrgStoreContract,
                         ::testing::ValuesIn(contract::store_factories()), contract::backend_name);

}  // namespace
}  // namespace twostep::store
