#include "twostep/services/app_passwords.hpp"

#include <algorithm>
#include <regex>
#include <set>

#include "fixture.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/factors/otp.hpp"
#include "twostep/services/orgs.hpp"

namespace twostep::services::testing {
namespace {

using core::Code;

class AppPasswordsTest : public ServicesTest {
 protected:
  AppPasswordsTest() { build(); }

  // The fixture's AppPasswords: the one Accounts tells about disabled users.
  void build() {
    rebuild();
    app_ = app_passwords_.get();
  }

  CreatedAppPassword create(const store::User& u, std::vector<std::string> scopes = {"all"},
                            const std::string& name = "Thunderbird") {
    auto r = app_->create(u, name, scopes, client_);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return *r;
  }

  // The cheap check, which must have an answer (found or not).
  std::optional<ProtocolUser> check_app(std::string_view name, std::string_view password,
                                        std::string_view scope = "mail") {
    auto r = app_->check_app_password(name, password, scope, client_);
    EXPECT_TRUE(r) << (r ? "" : r.error().reason);
    return r ? *r : std::nullopt;
  }

  void enable_twofa(const store::User& u) {
    auto e = twofa_->begin_totp(u, "phone");
    ASSERT_TRUE(e);
    auto seed = *crypto::base32_decode(e->secret_base32);
    ASSERT_TRUE(
        twofa_->confirm(u, e->method_id, factors::totp({}, seed, clock_.unix_now()), client_));
  }

  AppPasswords* app_ = nullptr;
};

TEST(AppPasswordFormatTest, ParsesTypedFormsAndRefusesOthers) {
  auto p = parse_app_password("abcd-efgh-ijkm-npqr-stuv-wxyz");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->lookup, "abcd");
  EXPECT_EQ(p->secret, "efghijkmnpqrstuvwxyz");
  // Upper case, spaces and no separators are the same password.
  EXPECT_EQ(parse_app_password("ABCD EFGH IJKM NPQR STUV WXYZ")->secret, p->secret);
  EXPECT_EQ(parse_app_password("abcdefghijkmnpqrstuvwxyz")->lookup, "abcd");
  // l, o, 0 and 1 are not in the alphabet; wrong lengths; anything else.
  EXPECT_FALSE(parse_app_password("abcd-efgh-ijkl-npqr-stuv-wxyz"));
  EXPECT_FALSE(parse_app_password("abcd-efgh-ijk0-npqr-stuv-wxyz"));
  EXPECT_FALSE(parse_app_password("abcd-efgh-ijkm-npqr-stuv-wxy"));
  EXPECT_FALSE(parse_app_password("abcd-efgh-ijkm-npqr-stuv-wxyz-a"));
  EXPECT_FALSE(parse_app_password(""));
  EXPECT_FALSE(parse_app_password("correct horse battery staple 42"));
  EXPECT_FALSE(parse_app_password(std::string(10000, 'a')));
}

TEST(AppPasswordScopeTest, ServicesMapToScopes) {
  EXPECT_EQ(*scope_for_service("imap", "service"), "mail");
  EXPECT_EQ(*scope_for_service("IMAP", "service"), "mail");
  EXPECT_EQ(*scope_for_service("submission", "service"), "mail");
  EXPECT_EQ(*scope_for_service("caldav", "service"), "dav");
  EXPECT_EQ(*scope_for_service("dav", "service"), "dav");
  EXPECT_EQ(*scope_for_service("all", "service"), "all");
  auto bad = scope_for_service("ftp", "service");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("service:"), std::string::npos);
  EXPECT_FALSE(scope_for_service("", "service"));
}

TEST(AppPasswordScopeTest, NormalizeAndAllow) {
  EXPECT_EQ(*normalize_scopes({"dav", "mail", "dav"}), "mail,dav");
  EXPECT_EQ(*normalize_scopes({"mail", "all"}), "all");
  EXPECT_EQ(*normalize_scopes({"dav"}), "dav");
  EXPECT_FALSE(normalize_scopes({}));
  EXPECT_FALSE(normalize_scopes({"imap"}));
  EXPECT_FALSE(normalize_scopes({"mail", ""}));
  EXPECT_TRUE(scope_allows("mail,dav", "dav"));
  EXPECT_TRUE(scope_allows("all", "mail"));
  EXPECT_TRUE(scope_allows("all", "all"));
  EXPECT_FALSE(scope_allows("mail", "dav"));
  EXPECT_FALSE(scope_allows("mail,dav", "all"));  // "all" is needed only where no scope is set
  EXPECT_EQ(split_scopes("mail,dav"), (std::vector<std::string>{"mail", "dav"}));
}

TEST_F(AppPasswordsTest, CreatedPasswordIsTypeableAndStoredOnlyAsAHash) {
  auto u = make_user();
  auto created = create(u, {"mail", "dav"});
  static const std::regex kShape("^[a-km-np-z2-9]{4}(-[a-km-np-z2-9]{4}){5}$");
  EXPECT_TRUE(std::regex_match(created.password, kShape)) << created.password;
  EXPECT_EQ(created.record.lookup, created.password.substr(0, 4));
  EXPECT_EQ(created.record.scopes, "mail,dav");
  EXPECT_EQ(created.record.key_id, keyring_.current_id());
  auto listed = app_->list(u.id);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  const auto& stored = listed->front();
  auto secret = parse_app_password(created.password)->secret;
  EXPECT_EQ(stored.hash.find(secret), std::string::npos);
  EXPECT_EQ(stored.hash.size(), 64u);  // BLAKE2b-256, hex
  auto events = count_events(u.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "app_password_created"), events.end());
}

TEST_F(AppPasswordsTest, PasswordsAreDistinct) {
  auto u = make_user();
  std::set<std::string> seen;
  for (int i = 0; i < 40; ++i) seen.insert(create(u).password);
  EXPECT_EQ(seen.size(), 40u);
}

TEST_F(AppPasswordsTest, NameAndScopesAreChecked) {
  auto u = make_user();
  for (auto [name, scopes] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"", {"mail"}},
           {"   ", {"mail"}},
           {std::string(65, 'x'), {"mail"}},
           {"tab\there", {"mail"}},
           {"ok", {}},
           {"ok", {"ftp"}}}) {
    auto r = app_->create(u, name, scopes, client_);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << name;
  }
  EXPECT_TRUE(app_->list(u.id)->empty());
}

TEST_F(AppPasswordsTest, AtMostFiftyPerUser) {
  auto u = make_user();
  for (int i = 0; i < kMaxAppPasswords; ++i) create(u);
  auto r = app_->create(u, "one more", {"mail"}, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "too_many_app_passwords");
  auto other = make_user("bob");
  EXPECT_TRUE(app_->create(other, "bob's", {"mail"}, client_));
}

TEST_F(AppPasswordsTest, RightPasswordAndScopeSignIn) {
  auto u = make_user();
  auto created = create(u, {"mail"});
  auto ok = check_app("Alice", created.password, "mail");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->user_id, u.id);
  EXPECT_EQ(ok->username, "alice");
  EXPECT_EQ(ok->app_password_id, created.record.id);
  // As typed by a person: upper case, spaces.
  std::string typed = created.password;
  std::transform(typed.begin(), typed.end(), typed.begin(), ::toupper);
  std::replace(typed.begin(), typed.end(), '-', ' ');
  EXPECT_TRUE(check_app("alice", typed, "mail"));
  // Last use is recorded, with the address, and a first use from an address is audited.
  auto listed = app_->list(u.id);
  EXPECT_EQ(listed->front().last_used_at, clock_.unix_now());
  EXPECT_EQ(listed->front().last_used_ip, client_.ip);
  auto events = count_events(u.id);
  EXPECT_EQ(std::count(events.begin(), events.end(), "app_password_used"), 1);
}

TEST_F(AppPasswordsTest, WrongSecretOtherUserOrShapeIsNotAnAppPassword) {
  auto alice = make_user();
  auto bob = make_user("bob");
  auto created = create(alice);
  std::string wrong = created.password;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(check_app("alice", wrong));
  EXPECT_FALSE(check_app("bob", created.password));
  EXPECT_FALSE(check_app("carol", created.password));
  EXPECT_FALSE(check_app("alice", kPassword));
  EXPECT_FALSE(check_app("!!", created.password));
  (void)bob;
}

TEST_F(AppPasswordsTest, ScopeIsEnforced) {
  auto u = make_user();
  auto mail = create(u, {"mail"});
  auto all = create(u, {"all"});
  auto r = app_->check_app_password("alice", mail.password, "dav", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "app_password_scope");
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  EXPECT_TRUE(check_app("alice", all.password, "dav"));
  EXPECT_TRUE(check_app("alice", all.password, "mail"));
  EXPECT_TRUE(check_app("alice", all.password, "all"));
  EXPECT_FALSE(app_->check_app_password("alice", mail.password, "all", client_));
}

TEST_F(AppPasswordsTest, RevokeAllRevokesEveryOneOfTheUserOnly) {
  auto u = make_user();
  auto other = make_user("bob");
  auto a = create(u);
  auto b = create(u, {"mail"}, "Phone");
  auto theirs = create(other);
  auto ok = check_app("alice", a.password);
  ASSERT_TRUE(ok);
  const auto key = AppPasswords::cache_key("mail", "Basic header");
  app_->remember(key, *ok, app_->cache_generation());
  auto n = app_->revoke_all(u, client_);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2);
  EXPECT_FALSE(app_->cached(key));
  EXPECT_FALSE(check_app("alice", a.password));
  EXPECT_FALSE(check_app("alice", b.password));
  EXPECT_TRUE(check_app("bob", theirs.password));
  auto events = count_events(u.id);
  EXPECT_EQ(std::count(events.begin(), events.end(), "app_password_revoked"), 2);
  EXPECT_EQ(app_->revoke_all(u, client_).value(), 0);
}

TEST_F(AppPasswordsTest, RevokedPasswordStopsAtOnceAndLeavesTheCache) {
  auto u = make_user();
  auto created = create(u);
  auto ok = check_app("alice", created.password);
  ASSERT_TRUE(ok);
  const auto key = AppPasswords::cache_key("mail", "Basic header");
  app_->remember(key, *ok, app_->cache_generation());
  ASSERT_TRUE(app_->cached(key));
  ASSERT_TRUE(app_->revoke(u, created.record.id, client_));
  EXPECT_FALSE(app_->cached(key));
  EXPECT_FALSE(check_app("alice", created.password));
  auto again = app_->revoke(u, created.record.id, client_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::kNotFound);
  auto events = count_events(u.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "app_password_revoked"), events.end());
}

TEST_F(AppPasswordsTest, OnlyTheOwnerRevokes) {
  auto alice = make_user();
  auto mallory = make_user("mallory");
  auto created = create(alice);
  auto r = app_->revoke(mallory, created.record.id, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kNotFound);
  EXPECT_TRUE(check_app("alice", created.password));
}

TEST_F(AppPasswordsTest, CacheCanBeTurnedOff) {
  config_.sessions.verify_cache_ms = 0;
  build();
  const auto key = AppPasswords::cache_key("mail", "Basic header");
  app_->remember(key, ProtocolUser{1, "alice", 2}, app_->cache_generation());
  EXPECT_FALSE(app_->cached(key));
}

TEST_F(AppPasswordsTest, ApplicationPasswordsAreCachedTheSessionTimeMainPasswordsOneSecond) {
  // Everything that ends an application password is announced; not everything that stops the
  // main password from opening protocols is (two-step verification turned on): a second at most.
  config_.sessions.verify_cache_ms = 60000;
  build();
  const auto by_app = AppPasswords::cache_key("mail", "Basic app");
  const auto by_main = AppPasswords::cache_key("mail", "Basic main");
  app_->remember(by_app, ProtocolUser{1, "alice", 2}, app_->cache_generation());
  app_->remember(by_main, ProtocolUser{1, "alice", 0}, app_->cache_generation());
  clock_.advance(std::chrono::milliseconds(999));
  EXPECT_TRUE(app_->cached(by_main));
  clock_.advance(std::chrono::milliseconds(1));
  EXPECT_FALSE(app_->cached(by_main));
  clock_.advance(std::chrono::milliseconds(58999));
  EXPECT_TRUE(app_->cached(by_app));
  clock_.advance(std::chrono::milliseconds(1));
  EXPECT_FALSE(app_->cached(by_app));

  config_.sessions.verify_cache_ms = 300;  // a shorter session cache time caps both
  build();
  app_->remember(by_main, ProtocolUser{1, "alice", 0}, app_->cache_generation());
  clock_.advance(std::chrono::milliseconds(300));
  EXPECT_FALSE(app_->cached(by_main));
}

TEST_F(AppPasswordsTest, KeysDifferByScopeAndHeader) {
  EXPECT_EQ(AppPasswords::cache_key("mail", "Basic a"), AppPasswords::cache_key("mail", "Basic a"));
  EXPECT_NE(AppPasswords::cache_key("mail", "Basic a"), AppPasswords::cache_key("dav", "Basic a"));
  EXPECT_NE(AppPasswords::cache_key("mail", "Basic a"), AppPasswords::cache_key("mail", "Basic b"));
}

TEST_F(AppPasswordsTest, ARevocationDuringTheCheckIsNotUndoneByCaching) {
  auto u = make_user();
  auto created = create(u);
  const auto key = AppPasswords::cache_key("mail", "Basic header");
  const uint64_t generation = app_->cache_generation();  // /verify, before the check
  auto ok = check_app("alice", created.password);
  ASSERT_TRUE(ok);
  ASSERT_TRUE(app_->revoke(u, created.record.id, client_));  // meanwhile, elsewhere
  app_->remember(key, *ok, generation);
  EXPECT_FALSE(app_->cached(key));
}

TEST_F(AppPasswordsTest, DisablingOrANewPasswordDropsTheUsersCachedSuccesses) {
  auto u = make_user();
  auto bob = make_user("bob");
  const auto by_app = AppPasswords::cache_key("mail", "Basic app");
  const auto by_main = AppPasswords::cache_key("mail", "Basic main");
  const auto bobs = AppPasswords::cache_key("mail", "Basic bob");
  auto fill = [&] {
    app_->remember(by_app, ProtocolUser{u.id, "alice", 7}, app_->cache_generation());
    app_->remember(by_main, ProtocolUser{u.id, "alice", 0}, app_->cache_generation());
    app_->remember(bobs, ProtocolUser{bob.id, "bob", 8}, app_->cache_generation());
  };
  fill();
  ASSERT_TRUE(accounts_->set_password("alice", "another quite long passphrase 77", client_));
  EXPECT_FALSE(app_->cached(by_app));
  EXPECT_FALSE(app_->cached(by_main)) << "the old main password must not stay accepted";
  EXPECT_TRUE(app_->cached(bobs));
  fill();
  ASSERT_TRUE(accounts_->set_disabled("alice", true, client_));
  EXPECT_FALSE(app_->cached(by_app));
  EXPECT_FALSE(app_->cached(by_main));
  EXPECT_TRUE(app_->cached(bobs));
}

TEST_F(AppPasswordsTest, MainPasswordWhileTwoStepIsOff) {
  auto u = make_user();
  auto ok = app_->check_main_password("alice", kPassword, "mail", client_);
  ASSERT_TRUE(ok) << ok.error().reason;
  EXPECT_EQ(ok->user_id, u.id);
  EXPECT_EQ(ok->app_password_id, 0);
}

TEST_F(AppPasswordsTest, MainPasswordRefusedByConfiguration) {
  config_.accounts.protocol_main_password = false;
  build();
  make_user();
  auto r = app_->check_main_password("alice", kPassword, "mail", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "app_password_required");
}

TEST_F(AppPasswordsTest, MainPasswordRefusedOnceTwoStepIsOn) {
  auto u = make_user();
  auto created = create(u);
  enable_twofa(u);
  auto r = app_->check_main_password("alice", kPassword, "mail", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "app_password_required");
  EXPECT_EQ(r.error().code, Code::kUnauthenticated);
  EXPECT_NE(r.error().message.find("App passwords"), std::string::npos) << r.error().message;
  // The application password still works.
  EXPECT_TRUE(check_app("alice", created.password));
  auto events = count_events(u.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "app_auth_refused"), events.end());
}

TEST_F(AppPasswordsTest, MainPasswordRefusedOnceAnOrganisationRequiresTwoStep) {
  Deps d{*store_, clock_, keyring_, config_, metrics_};
  Orgs orgs(d, *audit_, *sessions_, *twofa_, *throttles_);
  AppPasswords app(d, *audit_, *throttles_, *twofa_, &orgs);
  auto owner = make_user("owner");
  auto member = make_user("member");
  auto org = orgs.create(Actor::cli(), "Acme", "owner", client_);
  ASSERT_TRUE(org) << org.error().message;
  ASSERT_TRUE(orgs.add_member(Actor::cli(), org->id, "member", store::OrgRole::kMember, client_));
  ASSERT_TRUE(orgs.set_policy(Actor::cli(), org->id, true, 2, client_));
  // Within the grace period the main password still works, as at the web sign-in.
  EXPECT_TRUE(app.check_main_password("member", kPassword, "mail", client_));
  clock_.advance(std::chrono::hours(49));
  auto r = app.check_main_password("member", kPassword, "mail", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "app_password_required");
  auto events = count_events(member.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "app_auth_refused"), events.end());
  (void)owner;
}

TEST_F(AppPasswordsTest, WrongPasswordAndUnknownUserLookTheSame) {
  make_user();
  auto wrong = app_->check_main_password("alice", "not the password", "mail", client_);
  auto unknown = app_->check_main_password("nobody", "not the password", "mail", client_);
  auto impossible = app_->check_main_password("!!", "x", "mail", client_);
  for (const auto* r : {&wrong, &unknown, &impossible}) {
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error().reason, "invalid_credentials");
    EXPECT_EQ(r->error().message, wrong.error().message);
  }
}

TEST_F(AppPasswordsTest, FailuresLockTheAccountForProtocolsOnly) {
  config_.rate_limit.login_account_max = 3;
  config_.rate_limit.login_account_lock_s = 60;
  build();
  auto u = make_user();
  auto created = create(u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(app_->check_main_password("alice", "wrong", "mail", client_).error().reason,
              "invalid_credentials");
  }
  // Locked for protocols, whatever the password...
  auto locked = app_->check_app_password("alice", created.password, "mail", client_);
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().reason, "locked");
  EXPECT_GT(locked.error().retry_after_s, 0);
  EXPECT_EQ(app_->check_main_password("alice", kPassword, "mail", client_).error().reason,
            "locked");
  // ...but the web sign-in has its own counter.
  EXPECT_TRUE(login_->password("alice", kPassword, false, client_));
  clock_.advance(std::chrono::seconds(61));
  EXPECT_TRUE(check_app("alice", created.password));
  auto events = count_events(u.id);
  EXPECT_EQ(std::count(events.begin(), events.end(), "app_auth_failed"), 3);
  EXPECT_NE(std::find(events.begin(), events.end(), "app_auth_locked"), events.end());
}

TEST_F(AppPasswordsTest, AddressLockCoversEveryAccount) {
  config_.rate_limit.login_ip_max = 4;
  build();
  make_user();
  for (int i = 0; i < 4; ++i) {
    (void)app_->check_main_password("user" + std::to_string(i), "wrong", "mail", client_);
  }
  auto r = app_->check_main_password("alice", kPassword, "mail", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "locked");
  Client other{"192.0.2.99", "unit-test"};
  EXPECT_TRUE(app_->check_main_password("alice", kPassword, "mail", other));
}

TEST_F(AppPasswordsTest, DisabledAccountIsRefused) {
  auto u = make_user();
  auto created = create(u);
  ASSERT_TRUE(accounts_->set_disabled("alice", true, client_));
  auto r = app_->check_app_password("alice", created.password, "mail", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "account_disabled");
  auto m = app_->check_main_password("alice", kPassword, "mail", client_);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().reason, "account_disabled");
}

TEST_F(AppPasswordsTest, PasswordsSurviveKeyRotation) {
  auto u = make_user();
  auto created = create(u);
  // A second master key becomes current: hashes made with key 1 still check.
  crypto::Keyring rotated =
      crypto::Keyring::from_keys({{1, std::string(32, '\x42')}, {2, std::string(32, '\x43')}}, 2);
  AppPasswords after(Deps{*store_, clock_, rotated, config_, metrics_}, *audit_, *throttles_,
                     *twofa_);
  auto ok = after.check_app_password("alice", created.password, "mail", client_);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(*ok);
  auto fresh = after.create(u, "new", {"mail"}, client_);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->record.key_id, 2u);
  EXPECT_TRUE(*after.check_app_password("alice", fresh->password, "mail", client_));
  // Without the old key, the old password cannot be checked: a clear "try again" (503), not a
  // wrong password (which would count towards a lockout), and nothing crashes.
  crypto::Keyring only_new = crypto::Keyring::from_keys({{2, std::string(32, '\x43')}}, 2);
  AppPasswords lost(Deps{*store_, clock_, only_new, config_, metrics_}, *audit_, *throttles_,
                    *twofa_);
  auto gone = lost.check_app_password("alice", created.password, "mail", client_);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, core::Code::kUnavailable);
  EXPECT_EQ(gone.error().reason, "master_key_unavailable");
}

TEST_F(AppPasswordsTest, HashIsBoundToTheUser) {
  // A hash copied to another user's row (same lookup) does not check for that user.
  auto alice = make_user();
  auto bob = make_user("bob");
  auto created = create(alice);
  store::AppPassword copy = created.record;
  copy.user_id = bob.id;
  ASSERT_TRUE(store_->create_app_password(copy, kMaxAppPasswords));
  EXPECT_FALSE(check_app("bob", created.password));
  EXPECT_TRUE(check_app("alice", created.password));
}

}  // namespace
}  // namespace twostep::services::testing
