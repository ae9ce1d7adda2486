// Push approval in the services layer, with a fake clock: enrolment of the authenticator,
// verification of its signed requests, and the approval state machine (number matching,
// one decision, expiry, the push-bombing limit, completion of the sign-in).
#include "twostep/services/approvals.hpp"

#include <atomic>
#include <latch>
#include <thread>

#include "fixture.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/factors/otp.hpp"
#include "twostep/factors/push.hpp"
#include "twostep/services/events.hpp"

namespace twostep::services::testing {
namespace {

using store::ApprovalState;

struct Device {
  store::User user;
  int64_t method_id = 0;
  std::string device_id;
  factors::push::KeyPair keys;
  std::string seed;
};

class ApprovalsTest : public ServicesTest {
 protected:
  ApprovalsTest() { rebuild_approvals(); }

  void rebuild_approvals() {
    rebuild();
    Deps d{*store_, clock_, keyring_, config_, metrics_};
    approvals_ = std::make_unique<Approvals>(d, *audit_, *twofa_, *login_, *throttles_, bus_);
  }

  int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
  }

  SignedRequest signed_request(std::string_view secret_key, const std::string& device_id,
                               const std::string& method, const std::string& target,
                               const std::string& body, int64_t ts_ms) {
    SignedRequest r{method, target, body, device_id, std::to_string(ts_ms), ""};
    r.signature = crypto::base64url_encode(factors::push::sign(
        secret_key, factors::push::signing_string(method, target, device_id, ts_ms, body)));
    return r;
  }

  std::string token_of(const PushEnrollmentStart& s) {
    auto e = factors::push::parse_enrollment_uri(s.enrollment_uri);
    EXPECT_TRUE(e);
    return e ? e->token : "";
  }

  Result<EnrolledDevice> enroll_with(const std::string& token, const factors::push::KeyPair& kp,
                                     std::string_view signing_key, const std::string& seed,
                                     int64_t ts_ms) {
    auto req = signed_request(signing_key, "", "POST", "/api/v1/devices/enroll", "{}", ts_ms);
    return approvals_->enroll(req, token, crypto::base64url_encode(kp.public_key),
                              crypto::base32_encode(seed), "phone", client_);
  }

  // A user with an enrolled and confirmed authenticator.
  Device enrolled(const std::string& name = "alice") {
    Device d;
    d.user = make_user(name);
    auto start = approvals_->begin_enrollment(d.user, "", client_);
    EXPECT_TRUE(start) << start.error().message;
    d.keys = factors::push::generate_keypair();
    d.seed = crypto::random_bytes(20);
    auto e = enroll_with(token_of(*start), d.keys, d.keys.secret_key.view(), d.seed, now_ms());
    EXPECT_TRUE(e) << e.error().message;
    d.method_id = e->method_id;
    d.device_id = e->device_id;
    auto codes =
        twofa_->confirm(d.user, d.method_id, factors::totp({}, d.seed, clock_.unix_now()), client_);
    EXPECT_TRUE(codes) << codes.error().message;
    return d;
  }

  // A device request signed now (each call a millisecond later).
  SignedRequest device_request(const Device& d, const std::string& body = "") {
    clock_.advance(std::chrono::milliseconds(1));
    return signed_request(d.keys.secret_key.view(), d.device_id, "POST",
                          "/api/v1/devices/approvals/1", body, now_ms());
  }

  SessionView pending_sign_in(const std::string& name = "alice") {
    auto r = login_->password(name, kPassword, false, Client{"198.51.100.7", "Firefox on Linux"});
    EXPECT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->kind, LoginOutcome::Kind::kSecondFactor);
    auto v = sessions_->resolve(r->session.token);
    EXPECT_TRUE(v);
    return *v;
  }

  Approver device_approver(const Device& d) {
    return Approver{"push:x", "authenticator", d.method_id};
  }

  InProcessEventBus bus_;
  std::unique_ptr<Approvals> approvals_;
};

// --- enrolment -------------------------------------------------------------------

TEST_F(ApprovalsTest, EnrolmentSpendsTheLinkOnce) {
  auto user = make_user();
  auto start = approvals_->begin_enrollment(user, "My phone", client_);
  ASSERT_TRUE(start) << start.error().message;
  EXPECT_NE(start->qr_svg.find("<svg"), std::string::npos);
  EXPECT_EQ(start->expires_at, clock_.unix_now() + 600);
  auto uri = factors::push::parse_enrollment_uri(start->enrollment_uri);
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->server, "http://localhost:8080");
  EXPECT_EQ(uri->account, "alice");
  // The link is stored only as a hash.
  auto kp = factors::push::generate_keypair();
  std::string seed = crypto::random_bytes(20);
  auto first = enroll_with(uri->token, kp, kp.secret_key.view(), seed, now_ms());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->account, "alice");
  EXPECT_EQ(first->method_id, start->method_id);
  auto again = enroll_with(uri->token, kp, kp.secret_key.view(), seed, now_ms() + 1);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, "invalid_enrollment");
  // Not active until confirmed with a first code.
  EXPECT_FALSE(*twofa_->enabled(user.id));
  auto events = count_events(user.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "push_device_enrolled"), events.end());
}

TEST_F(ApprovalsTest, EnrolmentNeedsProofOfTheKeyBeforeTheLinkIsSpent) {
  auto user = make_user();
  auto start = approvals_->begin_enrollment(user, "", client_);
  ASSERT_TRUE(start);
  auto kp = factors::push::generate_keypair();
  auto other = factors::push::generate_keypair();
  std::string seed = crypto::random_bytes(20);
  auto forged = enroll_with(token_of(*start), kp, other.secret_key.view(), seed, now_ms());
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().reason, "invalid_signature");
  // Still usable by the real device.
  EXPECT_TRUE(enroll_with(token_of(*start), kp, kp.secret_key.view(), seed, now_ms()));
}

TEST_F(ApprovalsTest, EnrolmentRefusesBadKeysSeedsAndOldLinks) {
  auto user = make_user();
  auto start = approvals_->begin_enrollment(user, "", client_);
  ASSERT_TRUE(start);
  const std::string token = token_of(*start);
  auto kp = factors::push::generate_keypair();
  auto req =
      signed_request(kp.secret_key.view(), "", "POST", "/api/v1/devices/enroll", "{}", now_ms());
  auto short_key = approvals_->enroll(req, token, crypto::base64url_encode(kp.public_key.substr(1)),
                                      crypto::base32_encode(crypto::random_bytes(20)), "", client_);
  EXPECT_EQ(short_key.error().reason, "invalid_request");
  auto short_seed = approvals_->enroll(req, token, crypto::base64url_encode(kp.public_key),
                                       crypto::base32_encode(crypto::random_bytes(8)), "", client_);
  EXPECT_EQ(short_seed.error().reason, "invalid_request");
  auto not_base32 = approvals_->enroll(req, token, crypto::base64url_encode(kp.public_key),
                                       "not base32 at all!", "", client_);
  EXPECT_EQ(not_base32.error().reason, "invalid_request");

  clock_.advance(std::chrono::seconds(601));
  auto late = enroll_with(token, kp, kp.secret_key.view(), crypto::random_bytes(20), now_ms());
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().reason, "invalid_enrollment");
}

TEST_F(ApprovalsTest, ConfirmingBeforeTheDeviceEnrolledSaysSo) {
  auto user = make_user();
  auto start = approvals_->begin_enrollment(user, "", client_);
  ASSERT_TRUE(start);
  auto r = twofa_->confirm(user, start->method_id, "123456", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "not_enrolled");
}

// --- signed requests -------------------------------------------------------------

TEST_F(ApprovalsTest, SignedRequestsAreCheckedForKeySkewAndReplay) {
  auto d = enrolled();
  auto good = device_request(d, "{\"approve\":false}");
  auto ok = approvals_->authenticate_device(good, client_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->user.id, d.user.id);
  EXPECT_EQ(ok->method.id, d.method_id);

  auto replay = approvals_->authenticate_device(good, client_);
  EXPECT_EQ(replay.error().reason, "replayed_request");

  // Signed correctly but older than the last accepted request.
  auto older = signed_request(d.keys.secret_key.view(), d.device_id, "POST",
                              "/api/v1/devices/approvals/1", "", now_ms() - 5);
  EXPECT_EQ(approvals_->authenticate_device(older, client_).error().reason, "replayed_request");

  auto tampered = device_request(d, "{\"approve\":false}");
  tampered.body = "{\"approve\":true}";
  EXPECT_EQ(approvals_->authenticate_device(tampered, client_).error().reason, "invalid_signature");
  auto other_path = device_request(d);
  other_path.target = "/api/v1/devices/approvals/2";
  EXPECT_EQ(approvals_->authenticate_device(other_path, client_).error().reason,
            "invalid_signature");

  auto skewed =
      signed_request(d.keys.secret_key.view(), d.device_id, "GET", "/x", "", now_ms() + 61'000);
  auto skew = approvals_->authenticate_device(skewed, client_);
  EXPECT_EQ(skew.error().reason, "clock_skew");
  EXPECT_NE(skew.error().message.find("61 seconds"), std::string::npos) << skew.error().message;
  auto behind =
      signed_request(d.keys.secret_key.view(), d.device_id, "GET", "/x", "", now_ms() - 61'000);
  EXPECT_EQ(approvals_->authenticate_device(behind, client_).error().reason, "clock_skew");
  // Within the allowed skew is fine.
  clock_.advance(std::chrono::milliseconds(1));
  auto ahead =
      signed_request(d.keys.secret_key.view(), d.device_id, "GET", "/x", "", now_ms() + 59'000);
  EXPECT_TRUE(approvals_->authenticate_device(ahead, client_));

  auto garbage = device_request(d);
  garbage.timestamp = "soon";
  EXPECT_EQ(approvals_->authenticate_device(garbage, client_).error().reason, "invalid_signature");
  auto unknown = device_request(d);
  unknown.device_id = "no-such-device";
  EXPECT_EQ(approvals_->authenticate_device(unknown, client_).error().reason, "unknown_device");
  auto events = count_events(d.user.id);
  EXPECT_GE(std::count(events.begin(), events.end(), "push_request_rejected"), 5);
}

TEST_F(ApprovalsTest, RemovingTheMethodRevokesTheDevice) {
  auto d = enrolled();
  clock_.advance(std::chrono::seconds(120));  // its next request is well after the last one
  ASSERT_TRUE(twofa_->remove(d.user, d.method_id, client_));
  auto r = approvals_->authenticate_device(device_request(d), client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "unknown_device");
  EXPECT_FALSE(*approvals_->device_active(d.device_id));
}

TEST_F(ApprovalsTest, OfflineCodesAreTotpCodesOfThePushMethodUsedOnce) {
  auto d = enrolled();
  clock_.advance(std::chrono::seconds(30));
  const std::string code = factors::totp({}, d.seed, clock_.unix_now());
  auto check = twofa_->check_code(d.user, "totp", code, d.method_id);
  ASSERT_TRUE(check) << check.error().message;
  EXPECT_EQ(check->method_type, "push");
  EXPECT_EQ(twofa_->check_code(d.user, "totp", code, d.method_id).error().reason, "invalid_code");
}

// --- the approval state machine --------------------------------------------------

TEST_F(ApprovalsTest, RightNumberApprovesAndTheSignInCompletesOnce) {
  auto d = enrolled();
  auto pending = pending_sign_in();
  auto a = approvals_->request(pending, d.method_id, Client{"198.51.100.7", "Firefox"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->state, ApprovalState::kPending);
  EXPECT_EQ(a->expires_at, clock_.unix_now() + 120);
  auto choices = factors::push::parse_choices(a->choices);
  ASSERT_TRUE(choices);
  EXPECT_NE(std::find(choices->begin(), choices->end(), a->number), choices->end());

  auto decided = approvals_->decide(d.user.id, a->id, true, a->number, device_approver(d), client_);
  ASSERT_TRUE(decided) << decided.error().message;
  EXPECT_EQ(*decided, ApprovalState::kApproved);
  auto again =
      approvals_->decide(d.user.id, a->id, false, std::nullopt, device_approver(d), client_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, "conflict");
  EXPECT_NE(again.error().message.find("approved"), std::string::npos);

  auto st = approvals_->status(pending, a->id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, ApprovalState::kApproved);
  auto done = approvals_->complete(pending, *st, client_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->session.session.state, store::SessionState::kFull);
  EXPECT_EQ(done->check.method_type, "push");
  EXPECT_TRUE(sessions_->resolve(done->session.token));
  EXPECT_EQ(approvals_->complete(pending, *st, client_).error().reason, "conflict");

  auto events = count_events(d.user.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "approval_requested"), events.end());
  EXPECT_NE(std::find(events.begin(), events.end(), "approval_granted"), events.end());
  auto log = store_->audit_of_user(d.user.id, 1);
  EXPECT_NE(log->front().detail.find("password+push"), std::string::npos) << log->front().detail;
}

TEST_F(ApprovalsTest, WrongNumberDeniesAndIsAuditedAsRejected) {
  auto d = enrolled();
  auto pending = pending_sign_in();
  auto a = approvals_->request(pending, std::nullopt, Client{"198.51.100.7", "Firefox"});
  ASSERT_TRUE(a);
  int wrong = 0;
  const auto choices = factors::push::parse_choices(a->choices);
  ASSERT_TRUE(choices);
  for (int c : *choices) {
    if (c != a->number) wrong = c;
  }
  auto decided = approvals_->decide(d.user.id, a->id, true, wrong, device_approver(d), client_);
  ASSERT_TRUE(decided);
  EXPECT_EQ(*decided, ApprovalState::kDenied);
  EXPECT_EQ(approvals_->status(pending, a->id)->state, ApprovalState::kDenied);
  auto log = store_->audit_of_user(d.user.id, 5);
  auto it = std::find_if(log->begin(), log->end(),
                         [](const auto& e) { return e.event == "sign_in_rejected"; });
  ASSERT_NE(it, log->end());
  EXPECT_EQ(it->ip, "198.51.100.7");  // the rejected sign-in's address
  EXPECT_NE(it->detail.find("wrong_number"), std::string::npos) << it->detail;
  // A denied request never completes a sign-in.
  EXPECT_EQ(approvals_->complete(pending, *a, client_).error().reason, "conflict");
}

TEST_F(ApprovalsTest, NoDenies) {
  auto d = enrolled();
  auto pending = pending_sign_in();
  auto a = approvals_->request(pending, std::nullopt, client_);
  ASSERT_TRUE(a);
  auto decided =
      approvals_->decide(d.user.id, a->id, false, std::nullopt, device_approver(d), client_);
  ASSERT_TRUE(decided);
  EXPECT_EQ(*decided, ApprovalState::kDenied);
  auto log = store_->audit_of_user(d.user.id, 1);
  EXPECT_EQ(log->front().event, "sign_in_rejected");
  EXPECT_NE(log->front().detail.find("\"reason\":\"denied\""), std::string::npos);
  auto late = approvals_->decide(d.user.id, a->id, true, a->number, device_approver(d), client_);
  EXPECT_NE(late.error().message.find("denied"), std::string::npos);
}

TEST_F(ApprovalsTest, RequestsExpire) {
  config_.push.approval_ttl_s = 30;
  rebuild_approvals();
  auto d = enrolled();
  auto pending = pending_sign_in();
  auto a = approvals_->request(pending, std::nullopt, client_);
  ASSERT_TRUE(a);
  clock_.advance(std::chrono::seconds(29));
  EXPECT_EQ(approvals_->status(pending, a->id)->state, ApprovalState::kPending);
  EXPECT_EQ(approvals_->pending(d.user.id)->size(), 1u);
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(approvals_->status(pending, a->id)->state, ApprovalState::kExpired);
  EXPECT_TRUE(approvals_->pending(d.user.id)->empty());
  auto late = approvals_->decide(d.user.id, a->id, true, a->number, device_approver(d), client_);
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("expired"), std::string::npos);
}

TEST_F(ApprovalsTest, AtMostThreeRequestsPerWindow) {
  auto d = enrolled();
  auto pending = pending_sign_in();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(approvals_->request(pending, std::nullopt, client_)) << i;
    clock_.advance(std::chrono::seconds(10));
  }
  auto fourth = approvals_->request(pending, std::nullopt, client_);
  ASSERT_FALSE(fourth);
  EXPECT_EQ(fourth.error().reason, "rate_limited");
  EXPECT_EQ(fourth.error().code, core::Code::kResourceExhausted);
  EXPECT_GT(fourth.error().retry_after_s, 0);
  EXPECT_LE(fourth.error().retry_after_s, 300);
  // Other methods still work meanwhile.
  const std::string code = factors::totp({}, d.seed, clock_.unix_now());
  EXPECT_TRUE(twofa_->check_code(d.user, "totp", code, std::nullopt));
  clock_.advance(std::chrono::seconds(301));
  auto pending2 = pending_sign_in();
  EXPECT_TRUE(approvals_->request(pending2, std::nullopt, client_));
  auto events = count_events(d.user.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "approval_rate_limited"), events.end());
}

TEST_F(ApprovalsTest, SomeoneMustBeAbleToApprove) {
  // Only a TOTP app, no other session: nobody could answer.
  auto user = make_user();
  auto totp = twofa_->begin_totp(user, "");
  ASSERT_TRUE(totp);
  auto secret = crypto::base32_decode(totp->secret_base32);
  ASSERT_TRUE(twofa_->confirm(user, totp->method_id, factors::totp({}, *secret, clock_.unix_now()),
                              client_));
  auto pending = pending_sign_in();
  auto avail = approvals_->availability(user.id, pending.session.id);
  ASSERT_TRUE(avail);
  EXPECT_FALSE(avail->available());
  EXPECT_FALSE(avail->preferred);
  auto r = approvals_->request(pending, std::nullopt, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "no_approver");
  // A push method id that is not a push method is not found.
  EXPECT_EQ(approvals_->request(pending, totp->method_id, client_).error().reason, "not_found");

  // Signed in elsewhere: that session can approve, and is the preferred way.
  auto other = login_->start_session(user, false, client_);
  ASSERT_TRUE(other);
  avail = approvals_->availability(user.id, pending.session.id);
  EXPECT_EQ(avail->sessions, 1);
  EXPECT_EQ(avail->devices, 0);
  EXPECT_TRUE(avail->preferred);
  auto a = approvals_->request(pending, std::nullopt, client_);
  ASSERT_TRUE(a) << a.error().message;
  Approver session{"session:" + std::to_string(other->session.id), "a session", 0};
  EXPECT_EQ(*approvals_->decide(user.id, a->id, true, a->number, session, client_),
            ApprovalState::kApproved);
  auto done = approvals_->complete(pending, *approvals_->status(pending, a->id), client_);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->check.method_type, "apps");
}

TEST_F(ApprovalsTest, RequestsAreOnlyVisibleToTheirOwners) {
  auto alice = enrolled("alice");
  auto bob = enrolled("bob");
  auto pending = pending_sign_in("alice");
  auto a = approvals_->request(pending, std::nullopt, client_);
  ASSERT_TRUE(a);
  auto foreign =
      approvals_->decide(bob.user.id, a->id, true, a->number, device_approver(bob), client_);
  EXPECT_EQ(foreign.error().reason, "not_found");
  EXPECT_TRUE(approvals_->pending(bob.user.id)->empty());
  auto other_pending = pending_sign_in("alice");
  EXPECT_EQ(approvals_->status(other_pending, a->id).error().reason, "not_found");
  EXPECT_EQ(approvals_->status(pending, a->id + 1000).error().reason, "not_found");
  (void)alice;
}

TEST_F(ApprovalsTest, ExactlyOneConcurrentDecisionWins) {
  auto d = enrolled();
  auto pending = pending_sign_in();
  auto a = approvals_->request(pending, std::nullopt, client_);
  ASSERT_TRUE(a);
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> won{0}, lost{0}, approved{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto r =
          approvals_->decide(d.user.id, a->id, i % 2 == 0, a->number, device_approver(d), client_);
      if (r) {
        ++won;
        approved += *r == ApprovalState::kApproved ? 1 : 0;
      } else if (r.error().reason == "conflict") {
        ++lost;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), kThreads - 1);
  auto final_state = approvals_->status(pending, a->id)->state;
  EXPECT_EQ(final_state, approved.load() == 1 ? ApprovalState::kApproved : ApprovalState::kDenied);
}

TEST_F(ApprovalsTest, ChangesArePublishedOnTheUsersChannel) {
  auto d = enrolled();
  std::vector<std::string> seen;
  std::mutex mu;
  auto sub = bus_.subscribe(user_channel(d.user.id), [&](const std::string& p) {
    std::lock_guard lock(mu);
    seen.push_back(p);
  });
  auto other = bus_.subscribe(user_channel(d.user.id + 1), [&](const std::string&) {
    ADD_FAILURE() << "another user's channel";
  });
  auto pending = pending_sign_in();
  auto a = approvals_->request(pending, std::nullopt, client_);
  ASSERT_TRUE(a);
  ASSERT_TRUE(
      approvals_->decide(d.user.id, a->id, false, std::nullopt, device_approver(d), client_));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], approval_created_event(a->id));
  EXPECT_EQ(seen[1],
            "{\"type\":\"decided\",\"id\":" + std::to_string(a->id) + ",\"state\":\"denied\"}");
}

TEST_F(ApprovalsTest, ThePreferredWayFollowsTheDefaultMethod) {
  auto d = enrolled();
  auto pending = pending_sign_in();
  auto avail = approvals_->availability(d.user.id, pending.session.id);
  ASSERT_TRUE(avail);
  EXPECT_EQ(avail->devices, 1);
  EXPECT_EQ(avail->sessions, 0);
  EXPECT_TRUE(avail->preferred);  // push is the default (the first method)
}

// --- the event bus ---------------------------------------------------------------

TEST(EventBusTest, DeliversToTheChannelsSubscribersUntilUnsubscribed) {
  InProcessEventBus bus;
  int a = 0, b = 0;
  auto sa = bus.subscribe("user:1", [&](const std::string& p) { a += p == "x" ? 1 : 100; });
  auto sb = bus.subscribe("user:2", [&](const std::string&) { ++b; });
  bus.publish("user:1", "x");
  bus.publish("user:3", "x");
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(bus.subscribers(), 2u);
  sa.reset();
  bus.publish("user:1", "x");
  EXPECT_EQ(a, 1);
  EXPECT_EQ(bus.subscribers(), 1u);
}

TEST(EventBusTest, AHandlerMayUnsubscribeItselfAndOthers) {
  InProcessEventBus bus;
  std::unique_ptr<EventBus::Subscription> s1, s2;
  int calls = 0;
  s1 = bus.subscribe("c", [&](const std::string&) {
    ++calls;
    s1.reset();
    s2.reset();
  });
  s2 = bus.subscribe("c", [&](const std::string&) { ++calls; });
  bus.publish("c", "p");
  EXPECT_EQ(calls, 1);  // s2 was removed before its turn
  bus.publish("c", "p");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(bus.subscribers(), 0u);
}

TEST(EventBusTest, NoHandlerRunsAfterUnsubscribeReturns) {
  InProcessEventBus bus;
  std::atomic<bool> gone{false};
  std::atomic<int> late{0};
  auto sub = bus.subscribe("c", [&](const std::string&) {
    if (gone.load()) ++late;
  });
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop.load()) bus.publish("c", "p");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  sub.reset();
  gone = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  publisher.join();
  EXPECT_EQ(late.load(), 0);
}

}  // namespace
}  // namespace twostep::services::testing
