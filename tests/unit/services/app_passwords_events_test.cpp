// The /verify cache of HTTP Basic successes across instances: two AppPasswords services on one
// store, joined by an in-process bus standing in for LISTEN/NOTIFY. A revocation, a disabled
// account or a new password on one leaves the other's cache at once (the fake clock never
// reaches the cache time), the announcements carry ids only, and anything the receiver does not
// understand (the bus's resync after a reconnection) empties its cache.
#include "fixture.hpp"
#include "twostep/services/events.hpp"

namespace twostep::services::testing {
namespace {

class AppPasswordsEventsTest : public ServicesTest {
 protected:
  AppPasswordsEventsTest() {
    other_ = std::make_unique<AppPasswords>(Deps{*store_, clock_, keyring_, config_, metrics_},
                                            *audit_, *throttles_, *twofa_);
    app_passwords_->attach_events(bus_);
    other_->attach_events(bus_);
    announcements_ = bus_.subscribe(AppPasswords::kChannel,
                                    [this](const std::string& p) { seen_.push_back(p); });
  }

  ~AppPasswordsEventsTest() override {
    // The bus is a member of this class: everything subscribed to it goes first.
    announcements_.reset();
    other_.reset();
    accounts_.reset();
    app_passwords_.reset();
  }

  // An application password of `u`, checked and cached by the other instance under `header`.
  std::pair<CreatedAppPassword, crypto::Sha256Digest> cached_on_other(const store::User& u,
                                                                      const std::string& header) {
    auto created = app_passwords_->create(u, "Thunderbird", {"all"}, client_);
    EXPECT_TRUE(created);
    const auto key = AppPasswords::cache_key("mail", header);
    const uint64_t generation = other_->cache_generation();
    auto ok = other_->check_app_password(u.username, created->password, "mail", client_);
    EXPECT_TRUE(ok && *ok);
    other_->remember(key, **ok, generation);
    EXPECT_TRUE(other_->cached(key));
    return {*created, key};
  }

  InProcessEventBus bus_;
  std::unique_ptr<AppPasswords> other_;  // "the other instance"
  std::unique_ptr<EventBus::Subscription> announcements_;
  std::vector<std::string> seen_;
};

TEST_F(AppPasswordsEventsTest, ARevocationLeavesTheOtherInstancesCacheAtOnce) {
  auto u = make_user();
  auto [gone, key] = cached_on_other(u, "Basic one");
  auto [kept, kept_key] = cached_on_other(u, "Basic two");
  seen_.clear();
  ASSERT_TRUE(app_passwords_->revoke(u, gone.record.id, client_));
  EXPECT_FALSE(other_->cached(key));
  EXPECT_TRUE(other_->cached(kept_key)) << "only the revoked password goes";
  EXPECT_EQ(seen_, std::vector<std::string>{"{\"type\":\"app_password_revoked\",\"id\":" +
                                            std::to_string(gone.record.id) + "}"});
}

TEST_F(AppPasswordsEventsTest, ADisabledAccountLeavesEveryInstancesCache) {
  auto u = make_user();
  auto bob = make_user("bob");
  auto [a, key] = cached_on_other(u, "Basic alice");
  auto [b, bob_key] = cached_on_other(bob, "Basic bob");
  seen_.clear();
  ASSERT_TRUE(accounts_->set_disabled("alice", true, client_));
  EXPECT_FALSE(other_->cached(key));
  EXPECT_TRUE(other_->cached(bob_key));
  EXPECT_EQ(seen_, std::vector<std::string>{"{\"type\":\"user_credentials_changed\",\"user_id\":" +
                                            std::to_string(u.id) + "}"});
  // Enabling again loosens nothing cached: no announcement.
  seen_.clear();
  ASSERT_TRUE(accounts_->set_disabled("alice", false, client_));
  EXPECT_TRUE(seen_.empty());
}

TEST_F(AppPasswordsEventsTest, ANewPasswordLeavesEveryInstancesCache) {
  auto u = make_user();
  auto [a, key] = cached_on_other(u, "Basic alice");
  ASSERT_TRUE(accounts_->set_password("alice", "another quite long passphrase 77", client_));
  EXPECT_FALSE(other_->cached(key));
}

TEST_F(AppPasswordsEventsTest, AResyncOrAnythingUnknownEmptiesTheCache) {
  auto u = make_user();
  for (const char* payload :
       {"{\"type\":\"resync\"}", "not json", "[1,2]", "{\"type\":\"app_password_revoked\"}",
        "{\"type\":\"app_password_revoked\",\"id\":\"7\"}",
        "{\"type\":\"user_credentials_changed\",\"user_id\":-3}", "{\"type\":7,\"id\":1}"}) {
    auto [p, key] = cached_on_other(u, std::string("Basic ") + payload);
    bus_.publish(AppPasswords::kChannel, payload);
    EXPECT_FALSE(other_->cached(key)) << payload;
    EXPECT_TRUE(other_->check_app_password("alice", p.password, "mail", client_).value())
        << "the password itself is untouched: " << payload;
  }
}

TEST_F(AppPasswordsEventsTest, AnnouncementsOfOthersPasswordsLeaveUnrelatedEntries) {
  auto u = make_user();
  auto [p, key] = cached_on_other(u, "Basic alice");
  bus_.publish(AppPasswords::kChannel, "{\"type\":\"app_password_revoked\",\"id\":" +
                                           std::to_string(p.record.id + 1) + "}");
  bus_.publish(AppPasswords::kChannel, "{\"type\":\"user_credentials_changed\",\"user_id\":" +
                                           std::to_string(u.id + 1) + "}");
  EXPECT_TRUE(other_->cached(key));
}

TEST_F(AppPasswordsEventsTest, SessionAnnouncementsDoNotReachThisChannel) {
  auto u = make_user();
  auto [p, key] = cached_on_other(u, "Basic alice");
  bus_.publish(Sessions::kSessionsChannel, "{\"type\":\"resync\"}");
  EXPECT_TRUE(other_->cached(key));
}

}  // namespace
}  // namespace twostep::services::testing
