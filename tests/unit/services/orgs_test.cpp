// Organisations: roles and who may do what, the 2FA policy with its grace period (with a fake
// clock), the strictest of several organisations, enforcement on existing sessions, and the
// admin reset of a member's two-step verification (with or without their application passwords)
// and the operator's reset.
#include "twostep/services/orgs.hpp"

#include "fixture.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/factors/otp.hpp"

namespace twostep::services::testing {
namespace {

using store::OrgRole;
using store::SessionState;
constexpr int64_t kDay = 86400;

class OrgsTest : public ServicesTest {
 protected:
  OrgsTest() {
    config_.orgs.user_create = true;
    rebuild_orgs();
  }

  void rebuild_orgs() {
    rebuild();
    Deps d{*store_, clock_, keyring_, config_, metrics_};
    orgs_ = std::make_unique<Orgs>(d, *audit_, *sessions_, *twofa_, *throttles_);
    orgs_->attach_app_passwords(*app_passwords_);
    login_ = std::make_unique<Login>(d, *audit_, *sessions_, *twofa_, *throttles_, orgs_.get());
  }

  store::Org make_org(const store::User& owner, const std::string& name = "Acme") {
    auto o = orgs_->create(Actor::of(owner), name, owner.username, client_);
    EXPECT_TRUE(o) << (o ? "" : o.error().message);
    return *o;
  }

  void add(const store::Org& org, const store::User& who, OrgRole role,
           const Actor& by = Actor::cli()) {
    auto st = orgs_->add_member(by, org.id, who.username, role, client_);
    ASSERT_TRUE(st) << st.error().message;
  }

  void policy(const store::Org& org, bool on, int grace) {
    auto r = orgs_->set_policy(Actor::cli(), org.id, on, grace, client_);
    ASSERT_TRUE(r) << r.error().message;
  }

  void enrol(const store::User& u) {
    auto e = twofa_->begin_totp(u, "phone");
    ASSERT_TRUE(e);
    auto seed = *crypto::base32_decode(e->secret_base32);
    auto codes =
        twofa_->confirm(u, e->method_id, factors::totp({}, seed, clock_.unix_now()), client_);
    ASSERT_TRUE(codes) << codes.error().message;
  }

  LoginOutcome sign_in(const store::User& u) {
    auto r = login_->password(u.username, kPassword, false, client_);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return *r;
  }

  SessionState state_of(const IssuedSession& s) {
    return store_->session_by_id(s.session.id).value().state;
  }

  static std::string reason(const Status& st) { return st ? "ok" : st.error().reason; }
  template <class T>
  static std::string reason(const Result<T>& r) {
    return r ? "ok" : r.error().reason;
  }

  // An application password of `u`, checked once and remembered as /verify does: the key.
  crypto::Sha256Digest app_password_in_cache(const store::User& u, std::string* password) {
    auto created = app_passwords_->create(u, "Phone mail", {"all"}, client_);
    EXPECT_TRUE(created) << (created ? "" : created.error().message);
    *password = created->password;
    auto ok = app_passwords_->check_app_password(u.username, *password, "mail", client_);
    EXPECT_TRUE(ok && *ok);
    const auto key = AppPasswords::cache_key("mail", "Basic " + u.username + *password);
    app_passwords_->remember(key, **ok, app_passwords_->cache_generation());
    return key;
  }
  bool app_password_works(const store::User& u, const std::string& password) {
    auto r = app_passwords_->check_app_password(u.username, password, "mail", client_);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r && r->has_value();
  }
  // The detail of the newest `event` in the user's log ("" when there is none).
  std::string detail_of(int64_t user_id, const std::string& event) {
    auto events = store_->audit_of_user(user_id, 200);
    EXPECT_TRUE(events);
    for (const auto& e : *events) {
      if (e.event == event) return e.detail;
    }
    return "";
  }
  // After a reset told to keep application passwords.
  void expect_reset_kept_app_password(const store::User& u, const std::string& password,
                                      const std::string& event) {
    EXPECT_FALSE(twofa_->enabled(u.id).value());
    EXPECT_TRUE(app_password_works(u, password));
    EXPECT_NE(detail_of(u.id, event).find("\"app_passwords_revoked\":\"0\""), std::string::npos)
        << detail_of(u.id, event);
  }

  std::unique_ptr<Orgs> orgs_;
};

TEST_F(OrgsTest, CreatorBecomesOwnerAndNamesAreChecked) {
  auto alice = make_user("alice");
  auto org = make_org(alice, "  Acme Corp  ");
  EXPECT_EQ(org.name, "Acme Corp");
  auto mine = orgs_->of_user(alice.id).value();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].role, OrgRole::kOwner);
  for (const char* bad : {"", " ", "x", "12345", "tab\there\x01"}) {
    EXPECT_EQ(reason(orgs_->create(Actor::of(alice), bad, "alice", client_)), "invalid_request")
        << bad;
  }
  EXPECT_EQ(reason(orgs_->create(Actor::of(alice), std::string(65, 'a'), "alice", client_)),
            "invalid_request");
  EXPECT_EQ(reason(orgs_->create(Actor::of(alice), "acme corp", "alice", client_)),
            "org_name_taken");
  // A user creates only organisations they own.
  make_user("bob");
  EXPECT_EQ(reason(orgs_->create(Actor::of(alice), "Other", "bob", client_)), "forbidden");
  EXPECT_EQ(orgs_->find("acme corp").value().id, org.id);
  EXPECT_EQ(orgs_->find(std::to_string(org.id)).value().name, "Acme Corp");
  EXPECT_EQ(reason(orgs_->find("nope")), "not_found");
}

TEST_F(OrgsTest, UserCreationNeedsTheSwitchButTheOperatorAlwaysCan) {
  config_.orgs.user_create = false;
  rebuild_orgs();
  auto alice = make_user("alice");
  EXPECT_EQ(reason(orgs_->create(Actor::of(alice), "Acme", "alice", client_)), "forbidden");
  auto org = orgs_->create(Actor::cli(), "Acme", "alice", client_);
  ASSERT_TRUE(org);
  EXPECT_EQ(orgs_->of_user(alice.id).value()[0].role, OrgRole::kOwner);
  EXPECT_EQ(reason(orgs_->create(Actor::cli(), "Other", "nobody", client_)), "not_found");
}

TEST_F(OrgsTest, AuthorisationMatrix) {
  auto owner = make_user("owner");
  auto admin = make_user("admin");
  auto member = make_user("member");
  auto outsider = make_user("outsider");
  auto target = make_user("target");
  auto org = make_org(owner);
  add(org, admin, OrgRole::kAdmin);
  add(org, member, OrgRole::kMember);
  add(org, target, OrgRole::kMember);
  enrol(target);

  struct Case {
    store::User who;
    std::string expected;  // for every admin verb
  };
  for (const auto& c : {Case{owner, "ok"}, Case{admin, "ok"}, Case{member, "forbidden"},
                        Case{outsider, "not_found"}}) {
    Actor a = Actor::of(c.who);
    SCOPED_TRACE(c.who.username);
    EXPECT_EQ(reason(orgs_->members(a, org.id)), c.expected);
    EXPECT_EQ(reason(orgs_->audit_log(a, org.id, 10)), c.expected);
    EXPECT_EQ(reason(orgs_->set_policy(a, org.id, false, 0, client_)), c.expected);
    EXPECT_EQ(reason(orgs_->set_role(a, org.id, "target", OrgRole::kMember, client_)), c.expected);
    if (c.expected == "ok") continue;  // the mutating verbs below are checked for success later
    EXPECT_EQ(reason(orgs_->add_member(a, org.id, "outsider", OrgRole::kMember, client_)),
              c.expected);
    EXPECT_EQ(reason(orgs_->remove_member(a, org.id, "target", client_)), c.expected);
    EXPECT_EQ(reason(orgs_->reset_twofa(a, org.id, "target", true, true, client_)), c.expected);
  }
  // An organisation that does not exist answers like one you are not in.
  EXPECT_EQ(reason(orgs_->members(Actor::of(owner), 9999)), "not_found");
  EXPECT_EQ(reason(orgs_->members(Actor::cli(), 9999)), "not_found");
  // Nothing changed for the refused calls.
  EXPECT_EQ(orgs_->members(Actor::cli(), org.id).value().members.size(), 4u);
  EXPECT_TRUE(twofa_->enabled(target.id).value());
}

TEST_F(OrgsTest, AdminsCannotTouchOwnersAndTheLastOwnerStays) {
  auto owner = make_user("owner");
  auto admin = make_user("admin");
  auto other = make_user("other");
  auto org = make_org(owner);
  add(org, admin, OrgRole::kAdmin);
  add(org, other, OrgRole::kMember);
  enrol(owner);
  Actor a = Actor::of(admin);
  EXPECT_EQ(reason(orgs_->add_member(a, org.id, "other", OrgRole::kOwner, client_)), "forbidden");
  EXPECT_EQ(reason(orgs_->set_role(a, org.id, "other", OrgRole::kOwner, client_)), "forbidden");
  EXPECT_EQ(reason(orgs_->set_role(a, org.id, "owner", OrgRole::kMember, client_)), "forbidden");
  EXPECT_EQ(reason(orgs_->remove_member(a, org.id, "owner", client_)), "forbidden");
  EXPECT_EQ(reason(orgs_->reset_twofa(a, org.id, "owner", true, true, client_)), "forbidden");
  // Admins manage members and admins.
  EXPECT_EQ(reason(orgs_->set_role(a, org.id, "other", OrgRole::kAdmin, client_)), "ok");
  EXPECT_EQ(reason(orgs_->set_role(a, org.id, "other", OrgRole::kMember, client_)), "ok");

  Actor o = Actor::of(owner);
  EXPECT_EQ(reason(orgs_->set_role(o, org.id, "owner", OrgRole::kAdmin, client_)), "last_owner");
  EXPECT_EQ(reason(orgs_->remove_member(o, org.id, "owner", client_)), "last_owner");
  EXPECT_EQ(reason(orgs_->set_role(o, org.id, "other", OrgRole::kOwner, client_)), "ok");
  EXPECT_EQ(reason(orgs_->set_role(o, org.id, "owner", OrgRole::kAdmin, client_)), "ok");
  EXPECT_EQ(reason(orgs_->set_role(o, org.id, "nobody", OrgRole::kAdmin, client_)), "not_found");
  EXPECT_EQ(reason(orgs_->remove_member(Actor::of(other), org.id, "admin", client_)), "ok");
  EXPECT_EQ(reason(orgs_->remove_member(Actor::of(other), org.id, "admin", client_)), "not_found");
}

TEST_F(OrgsTest, AddingUnknownUsersIsRateLimited) {
  auto owner = make_user("owner");
  auto org = make_org(owner);
  auto bob = make_user("bob");
  Actor o = Actor::of(owner);
  EXPECT_EQ(reason(orgs_->add_member(o, org.id, "bob", OrgRole::kMember, client_)), "ok");
  EXPECT_EQ(reason(orgs_->add_member(o, org.id, "bob", OrgRole::kMember, client_)),
            "already_member");
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(reason(orgs_->add_member(o, org.id, "ghost" + std::to_string(i), OrgRole::kMember,
                                       client_)),
              "not_found");
  }
  EXPECT_EQ(reason(orgs_->add_member(o, org.id, "bob", OrgRole::kAdmin, client_)), "locked");
}

TEST_F(OrgsTest, GracePeriodWarnsThenRestrictsAtSignIn) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  auto org = make_org(owner);
  add(org, bob, OrgRole::kMember);
  policy(org, true, 3);
  const int64_t start = clock_.unix_now();

  auto during = sign_in(bob);
  EXPECT_EQ(during.kind, LoginOutcome::Kind::kSignedIn);
  ASSERT_TRUE(during.enrollment);
  EXPECT_EQ(during.enrollment->deadline, start + 3 * kDay);
  EXPECT_EQ(during.enrollment->org_name, "Acme");
  EXPECT_EQ(state_of(during.session), SessionState::kFull);

  clock_.advance(std::chrono::seconds(3 * kDay));
  auto after = sign_in(bob);
  EXPECT_EQ(after.kind, LoginOutcome::Kind::kEnrollmentRequired);
  EXPECT_EQ(state_of(after.session), SessionState::kEnrollmentRequired);
  // The restricted session still resolves (for /me, enrolment, logout) but verify refuses it.
  auto v = sessions_->verify_slow(Sessions::token_digest(after.session.token));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->state, SessionState::kEnrollmentRequired);

  // A user with 2FA is never asked: the policy is met.
  auto carol = make_user("carol");
  add(org, carol, OrgRole::kMember);
  enrol(carol);
  EXPECT_EQ(sign_in(carol).kind, LoginOutcome::Kind::kSecondFactor);
}

TEST_F(OrgsTest, GraceZeroRestrictsAtOnceAndNewcomersGetTheirOwnGrace) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  auto org = make_org(owner);
  add(org, bob, OrgRole::kMember);
  policy(org, true, 0);
  EXPECT_EQ(sign_in(bob).kind, LoginOutcome::Kind::kEnrollmentRequired);

  policy(org, true, 10);
  clock_.advance(std::chrono::seconds(30 * kDay));
  auto late = make_user("late");
  add(org, late, OrgRole::kMember);
  auto r = sign_in(late);
  EXPECT_EQ(r.kind, LoginOutcome::Kind::kSignedIn);
  ASSERT_TRUE(r.enrollment);
  EXPECT_EQ(r.enrollment->deadline, clock_.unix_now() + 10 * kDay);
  // bob's grace (from when the policy went on) has long passed.
  EXPECT_EQ(sign_in(bob).kind, LoginOutcome::Kind::kEnrollmentRequired);
}

TEST_F(OrgsTest, StrictestOfSeveralOrganisationsWins) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  auto lax = make_org(owner, "Lax");
  auto strict = make_org(owner, "Strict");
  auto none = make_org(owner, "None");
  for (const auto& o : {lax, strict, none}) add(o, bob, OrgRole::kMember);
  policy(lax, true, 30);
  policy(strict, true, 5);
  auto r = sign_in(bob);
  ASSERT_TRUE(r.enrollment);
  EXPECT_EQ(r.enrollment->org_name, "Strict");
  EXPECT_EQ(r.enrollment->deadline, clock_.unix_now() + 5 * kDay);
  policy(strict, true, 0);
  r = sign_in(bob);
  EXPECT_EQ(r.kind, LoginOutcome::Kind::kEnrollmentRequired);
  EXPECT_EQ(r.enrollment->org_name, "Strict");
  // Off in the strict one: the lax one's grace applies again.
  policy(strict, false, 0);
  r = sign_in(bob);
  EXPECT_EQ(r.kind, LoginOutcome::Kind::kSignedIn);
  EXPECT_EQ(r.enrollment->org_name, "Lax");
}

TEST_F(OrgsTest, PolicyChangesApplyToExistingSessions) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  auto org = make_org(owner);
  add(org, bob, OrgRole::kMember);
  enrol(owner);
  auto bob_session = sign_in(bob).session;
  auto owner_session = login_->start_session(owner, false, client_).value();

  policy(org, true, 0);
  EXPECT_EQ(state_of(bob_session), SessionState::kEnrollmentRequired);
  EXPECT_EQ(state_of(owner_session), SessionState::kFull);  // has 2FA
  EXPECT_TRUE(count_events(bob.id)[0] == "sessions_restricted");

  policy(org, false, 0);  // off lifts at once
  EXPECT_EQ(state_of(bob_session), SessionState::kFull);

  policy(org, true, 0);
  EXPECT_EQ(state_of(bob_session), SessionState::kEnrollmentRequired);
  policy(org, true, 7);  // a grace period from now on lifts too
  EXPECT_EQ(state_of(bob_session), SessionState::kFull);

  // The deadline passes with nobody acting: the housekeeping sweep restricts.
  clock_.advance(std::chrono::seconds(7 * kDay - 1));
  orgs_->enforce_deadlines();
  EXPECT_EQ(state_of(bob_session), SessionState::kFull);
  clock_.advance(std::chrono::seconds(1));
  orgs_->enforce_deadlines();
  EXPECT_EQ(state_of(bob_session), SessionState::kEnrollmentRequired);

  // Leaving the organisation lifts it.
  ASSERT_TRUE(orgs_->remove_member(Actor::cli(), org.id, "bob", client_));
  EXPECT_EQ(state_of(bob_session), SessionState::kFull);
  // Joining one whose deadline has passed restricts.
  add(org, bob, OrgRole::kMember);
  policy(org, true, 0);
  EXPECT_EQ(state_of(bob_session), SessionState::kEnrollmentRequired);
}

TEST_F(OrgsTest, RecheckLiftsOrRefusesRestrictedSessions) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  auto org = make_org(owner);
  add(org, bob, OrgRole::kMember);
  policy(org, true, 0);
  auto s = sign_in(bob).session;
  auto view = sessions_->resolve(s.token).value();
  ASSERT_TRUE(orgs_->recheck(view));
  EXPECT_EQ(view.session.state, SessionState::kEnrollmentRequired);

  // The policy went off in a way enforce() did not see (e.g. another instance failed to).
  ASSERT_TRUE(store_->set_org_policy(org.id, false, 0, clock_.unix_now()));
  view = sessions_->resolve(s.token).value();
  ASSERT_TRUE(orgs_->recheck(view));
  EXPECT_EQ(view.session.state, SessionState::kFull);
  EXPECT_EQ(state_of(s), SessionState::kFull);

  // A restricted session of a user who meanwhile has 2FA is refused and ended.
  policy(org, true, 0);
  auto s2 = sign_in(bob).session;
  enrol(bob);
  auto v2 = sessions_->resolve(s2.token).value();
  auto st = orgs_->recheck(v2);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().reason, "not_authenticated");
  EXPECT_FALSE(sessions_->resolve(s2.token));
}

TEST_F(OrgsTest, CompletingEnrolmentIssuesAFullSessionWithANewToken) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  auto org = make_org(owner);
  add(org, bob, OrgRole::kMember);
  policy(org, true, 0);
  auto s = sign_in(bob).session;
  enrol(bob);
  auto view = sessions_->resolve(s.token).value();
  auto full = orgs_->complete_enrollment(view, client_);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_NE(full->token, s.token);
  EXPECT_FALSE(sessions_->resolve(s.token));
  auto now_view = sessions_->resolve(full->token).value();
  EXPECT_EQ(now_view.session.state, SessionState::kFull);
  // Adding a method proved only the password: no fresh re-authentication.
  EXPECT_FALSE(login_->recently_authenticated(now_view.session));
}

TEST_F(OrgsTest, AdminResetRemovesTwoFactorEndsSessionsAndAuditsBothLogs) {
  auto owner = make_user("owner");
  auto admin = make_user("admin");
  auto bob = make_user("bob");
  auto org = make_org(owner);
  add(org, admin, OrgRole::kAdmin);
  add(org, bob, OrgRole::kMember);
  enrol(bob);
  auto bob_session = login_->start_session(bob, false, client_).value();
  Actor a = Actor::of(admin);

  EXPECT_EQ(reason(orgs_->reset_twofa(a, org.id, "bob", false, true, client_)), "reauth_required");
  EXPECT_TRUE(twofa_->enabled(bob.id).value());
  EXPECT_EQ(reason(orgs_->reset_twofa(a, org.id, "admin", true, true, client_)), "forbidden");
  EXPECT_EQ(reason(orgs_->reset_twofa(a, org.id, "nobody", true, true, client_)), "not_found");

  ASSERT_EQ(reason(orgs_->reset_twofa(a, org.id, "bob", true, true, client_)), "ok");
  EXPECT_FALSE(twofa_->enabled(bob.id).value());
  EXPECT_EQ(twofa_->recovery_remaining(bob.id).value(), 0);
  EXPECT_FALSE(sessions_->resolve(bob_session.token));
  auto events = count_events(bob.id);
  EXPECT_EQ(events[0], "twofa_reset_by_admin");
  EXPECT_NE(std::find(events.begin(), events.end(), "twofa_disabled"), events.end());
  auto log = orgs_->audit_log(a, org.id, 10).value();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].event, "member_twofa_reset");
  EXPECT_EQ(log[0].actor_name, "admin");
  EXPECT_EQ(log[0].subject_name, "bob");
  // Nothing left to reset.
  EXPECT_EQ(reason(orgs_->reset_twofa(a, org.id, "bob", true, true, client_)), "twofa_not_enabled");
}

TEST_F(OrgsTest, AdminResetRevokesApplicationPasswordsUnlessAskedToKeepThem) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  auto carol = make_user("carol");
  auto org = make_org(owner);
  add(org, bob, OrgRole::kMember);
  add(org, carol, OrgRole::kMember);
  std::string bob_pw, bob_pw2, carol_pw;
  const auto bob_key = app_password_in_cache(bob, &bob_pw);
  (void)app_password_in_cache(bob, &bob_pw2);
  (void)app_password_in_cache(carol, &carol_pw);
  enrol(bob);
  enrol(carol);
  Actor o = Actor::of(owner);

  auto done = orgs_->reset_twofa(o, org.id, "bob", true, true, client_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->app_passwords_revoked, 2);
  EXPECT_FALSE(app_password_works(bob, bob_pw));
  EXPECT_FALSE(app_password_works(bob, bob_pw2));
  EXPECT_FALSE(app_passwords_->cached(bob_key)) << "the /verify cache must drop it at once";
  EXPECT_TRUE(app_passwords_->list(bob.id).value().empty());
  EXPECT_TRUE(app_password_works(carol, carol_pw)) << "another member's password is untouched";
  EXPECT_NE(detail_of(bob.id, "twofa_reset_by_admin").find("\"app_passwords_revoked\":\"2\""),
            std::string::npos)
      << detail_of(bob.id, "twofa_reset_by_admin");
  EXPECT_NE(detail_of(bob.id, "app_password_revoked"), "");
  auto log = orgs_->audit_log(o, org.id, 1).value();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].detail.find("\"app_passwords_revoked\":\"2\""), std::string::npos)
      << log[0].detail;

  ASSERT_EQ(reason(orgs_->reset_twofa(o, org.id, "carol", true, false, client_)), "ok");
  expect_reset_kept_app_password(carol, carol_pw, "twofa_reset_by_admin");
}

TEST_F(OrgsTest, ResetThatShouldRevokeFailsBeforeChangingAnythingWhenNotWired) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  Deps d{*store_, clock_, keyring_, config_, metrics_};
  Orgs unwired(d, *audit_, *sessions_, *twofa_, *throttles_);
  auto org = unwired.create(Actor::cli(), "Acme", "owner", client_).value();
  ASSERT_TRUE(unwired.add_member(Actor::cli(), org.id, "bob", OrgRole::kMember, client_));
  enrol(bob);
  auto s = login_->start_session(bob, false, client_).value();
  EXPECT_EQ(reason(unwired.reset_twofa(Actor::of(owner), org.id, "bob", true, true, client_)),
            "internal");
  EXPECT_EQ(reason(unwired.reset_twofa_by_operator(bob, true, client_)), "internal");
  EXPECT_TRUE(twofa_->enabled(bob.id).value());
  EXPECT_TRUE(sessions_->resolve(s.token));
}

TEST_F(OrgsTest, OperatorResetWorksOutsideOrganisationsAndIsAudited) {
  auto bob = make_user("bob");
  auto carol = make_user("carol");
  std::string bob_pw, carol_pw;
  const auto bob_key = app_password_in_cache(bob, &bob_pw);
  (void)app_password_in_cache(carol, &carol_pw);
  const Client cli{"cli", "twostep-cli"};
  // Nothing to reset: refused, nothing changes.
  auto idle = login_->start_session(bob, false, client_).value();
  EXPECT_EQ(reason(orgs_->reset_twofa_by_operator(bob, true, cli)), "twofa_not_enabled");
  EXPECT_TRUE(sessions_->resolve(idle.token));
  EXPECT_TRUE(app_password_works(bob, bob_pw));
  EXPECT_EQ(detail_of(bob.id, "twofa_reset_by_operator"), "");

  enrol(bob);
  enrol(carol);
  auto s1 = login_->start_session(bob, false, client_).value();
  auto done = orgs_->reset_twofa_by_operator(bob, true, cli);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->sessions_ended, 2);
  EXPECT_EQ(done->app_passwords_revoked, 1);
  EXPECT_FALSE(twofa_->enabled(bob.id).value());
  EXPECT_EQ(twofa_->recovery_remaining(bob.id).value(), 0);
  EXPECT_FALSE(sessions_->resolve(s1.token));
  EXPECT_FALSE(sessions_->resolve(idle.token));
  EXPECT_FALSE(app_password_works(bob, bob_pw));
  EXPECT_FALSE(app_passwords_->cached(bob_key));
  auto events = count_events(bob.id);
  EXPECT_EQ(events[0], "twofa_reset_by_operator");
  EXPECT_EQ(detail_of(bob.id, "twofa_reset_by_operator"),
            R"({"sessions_ended":"2","app_passwords_revoked":"1"})");
  EXPECT_NE(detail_of(bob.id, "twofa_disabled").find("operator_reset"), std::string::npos);

  ASSERT_EQ(reason(orgs_->reset_twofa_by_operator(carol, false, cli)), "ok");
  expect_reset_kept_app_password(carol, carol_pw, "twofa_reset_by_operator");
}

TEST_F(OrgsTest, MembersViewShowsStatusAndDeadlines) {
  auto owner = make_user("owner");
  auto bob = make_user("bob");
  auto org = make_org(owner);
  add(org, bob, OrgRole::kMember);
  enrol(owner);
  policy(org, true, 2);
  auto view = orgs_->members(Actor::of(owner), org.id).value();
  EXPECT_EQ(view.viewer_role, OrgRole::kOwner);
  EXPECT_TRUE(view.org.require_2fa);
  ASSERT_EQ(view.members.size(), 2u);
  const auto& b = view.members[0];  // by username: bob, owner
  EXPECT_EQ(b.member.username, "bob");
  EXPECT_TRUE(b.member.method_types.empty());
  EXPECT_EQ(b.enrollment_deadline, clock_.unix_now() + 2 * kDay);
  EXPECT_EQ(view.members[1].member.method_types, std::vector<std::string>{"totp"});
  EXPECT_EQ(view.members[1].enrollment_deadline, 0);
  EXPECT_EQ(reason(orgs_->set_policy(Actor::of(owner), org.id, true, 366, client_)),
            "invalid_request");
  // Requiring 2FA needs it yourself first (the operator is exempt).
  auto admin = make_user("admin");
  add(org, admin, OrgRole::kAdmin);
  EXPECT_EQ(reason(orgs_->set_policy(Actor::of(admin), org.id, true, 1, client_)),
            "twofa_required_first");
  EXPECT_EQ(reason(orgs_->set_policy(Actor::of(admin), org.id, false, 1, client_)), "ok");
  EXPECT_EQ(reason(orgs_->set_policy(Actor::of(owner), org.id, true, 1, client_)), "ok");
  EXPECT_EQ(reason(orgs_->set_policy(Actor::of(owner), org.id, true, -1, client_)),
            "invalid_request");
}

}  // namespace
}  // namespace twostep::services::testing
