// The /verify cache across instances: two Sessions services on one store, joined by an
// in-process bus standing in for LISTEN/NOTIFY. What one ends or changes leaves the other's
// cache at once (the fake clock never reaches the cache time), the announcements carry ids
// only, and anything the receiver does not understand (the bus's resync after a reconnection)
// empties its cache rather than leaving an entry behind.
#include "fixture.hpp"
#include "twostep/services/events.hpp"

namespace twostep::services::testing {
namespace {

class SessionsEventsTest : public ServicesTest {
 protected:
  SessionsEventsTest() {
    Deps d{*store_, clock_, keyring_, config_, metrics_};
    other_ = std::make_unique<Sessions>(d, *audit_);
    sessions_->attach_events(bus_);
    other_->attach_events(bus_);
    announcements_ = bus_.subscribe(Sessions::kSessionsChannel,
                                    [this](const std::string& p) { seen_.push_back(p); });
  }

  ~SessionsEventsTest() override {
    // The bus is a member of this class: everything subscribed to it goes first.
    announcements_.reset();
    other_.reset();
    login_.reset();
    sessions_.reset();
  }

  // A signed-in session, cached by the other instance.
  std::pair<IssuedSession, crypto::Sha256Digest> cached_on_other(const store::User& u) {
    auto s = login_->start_session(u, false, client_);
    EXPECT_TRUE(s.has_value());
    crypto::Sha256Digest hash = Sessions::token_digest(s->token);
    EXPECT_TRUE(other_->verify_slow(hash));
    EXPECT_TRUE(other_->verify_cached(hash));
    return {*s, hash};
  }

  InProcessEventBus bus_;
  std::unique_ptr<Sessions> other_;  // "the other instance"
  std::unique_ptr<EventBus::Subscription> announcements_;
  std::vector<std::string> seen_;
};

TEST_F(SessionsEventsTest, ARevocationLeavesTheOtherInstancesCacheAtOnce) {
  auto u = make_user();
  auto [s, hash] = cached_on_other(u);
  ASSERT_TRUE(sessions_->revoke(u.id, s.session.id, client_));
  EXPECT_FALSE(other_->verify_cached(hash));
  EXPECT_FALSE(other_->verify_slow(hash));
  EXPECT_EQ(seen_, std::vector<std::string>{"{\"type\":\"session_ended\",\"session_id\":" +
                                            std::to_string(s.session.id) + "}"});
}

TEST_F(SessionsEventsTest, LogoutAndUpgradeAreAnnouncedToo) {
  auto u = make_user();
  auto [a, ha] = cached_on_other(u);
  ASSERT_TRUE(sessions_->logout(a.session, client_));
  EXPECT_FALSE(other_->verify_cached(ha));

  auto [b, hb] = cached_on_other(u);
  ASSERT_TRUE(sessions_->upgrade(b.session, store::SessionState::kFull));
  EXPECT_FALSE(other_->verify_cached(hb)) << "the old token must not outlive the upgrade";
}

TEST_F(SessionsEventsTest, EndingAllOtherSessionsKeepsTheCurrentOneCached) {
  auto u = make_user();
  auto bob = make_user("bob");
  auto [keep, hkeep] = cached_on_other(u);
  auto [gone, hgone] = cached_on_other(u);
  auto [bobs, hbob] = cached_on_other(bob);
  ASSERT_TRUE(sessions_->revoke_all(u.id, keep.session.id));
  EXPECT_TRUE(other_->verify_cached(hkeep));
  EXPECT_FALSE(other_->verify_cached(hgone));
  EXPECT_TRUE(other_->verify_cached(hbob)) << "another user's sessions stay";

  sessions_->user_sessions_changed(u.id);  // e.g. an organisation restricted them
  EXPECT_FALSE(other_->verify_cached(hkeep));
  EXPECT_TRUE(other_->verify_cached(hbob));
}

TEST_F(SessionsEventsTest, AResyncOrAnythingUnknownEmptiesTheCache) {
  auto u = make_user();
  for (const char* payload :
       {"{\"type\":\"resync\"}", "not json", "[1,2]", "{\"type\":\"session_ended\"}",
        "{\"type\":\"session_ended\",\"session_id\":\"7\"}",
        "{\"type\":\"user_sessions_changed\",\"user_id\":1,\"keep\":-5}"}) {
    auto [s, hash] = cached_on_other(u);
    bus_.publish(Sessions::kSessionsChannel, payload);
    EXPECT_FALSE(other_->verify_cached(hash)) << payload;
    EXPECT_TRUE(other_->verify_slow(hash)) << "the session itself is untouched: " << payload;
  }
}

TEST_F(SessionsEventsTest, AnnouncementsOfOthersSessionsLeaveUnrelatedEntries) {
  auto u = make_user();
  auto [s, hash] = cached_on_other(u);
  bus_.publish(Sessions::kSessionsChannel, "{\"type\":\"session_ended\",\"session_id\":" +
                                               std::to_string(s.session.id + 1) + "}");
  bus_.publish(Sessions::kSessionsChannel, "{\"type\":\"user_sessions_changed\",\"user_id\":" +
                                               std::to_string(u.id + 1) + ",\"keep\":0}");
  EXPECT_TRUE(other_->verify_cached(hash));
}

}  // namespace
}  // namespace twostep::services::testing
