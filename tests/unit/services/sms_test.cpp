// The SMS service with a fake gateway, an in-memory store and a fake clock: enrolment and
// confirmation, sign-in and re-authentication codes, attempts, expiry, cool-down, the daily
// caps, failed deliveries that count nothing, use-once under concurrency, and the config
// checks and HTTP-driver building blocks.
#include "twostep/services/sms.hpp"

#include <atomic>
#include <latch>
#include <regex>
#include <thread>

#include "fixture.hpp"
#include "twostep/services/sms_gateway.hpp"

namespace twostep::services::testing {
namespace {

// Records messages; fails on demand.
class FakeGateway final : public SmsGateway {
 public:
  std::string_view name() const override { return "fake"; }
  core::Status send(const SmsMessage& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_) {
      return tl::unexpected(sms_delivery_failed("fake: down"));
    }
    sent_.push_back(m);
    return core::ok();
  }
  void set_failing(bool f) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = f;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_.size();
  }
  SmsMessage last() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_.back();
  }
  // The 6-digit code of the last message.
  std::string last_code() {
    std::smatch m;
    std::string text = last().text;
    EXPECT_TRUE(std::regex_search(text, m, std::regex("^([0-9]{6}) is your"))) << text;
    return m[1];
  }

 private:
  std::mutex mu_;
  bool fail_ = false;
  std::vector<SmsMessage> sent_;
};

class SmsTest : public ServicesTest {
 protected:
  SmsTest() { rebuild_sms(); }

  void rebuild_sms() {
    rebuild();
    Deps d{*store_, clock_, keyring_, config_, metrics_};
    sms_ = std::make_unique<Sms>(d, *audit_, *twofa_, gateway_);  // registers "sms" with twofa_
  }

  // Enrols +41 79 123 45 67 and confirms it; returns the method id.
  int64_t enrolled(const store::User& u, const std::string& phone = "+41 79 123 45 67") {
    auto sent = sms_->enrol(u, phone, "", "", client_);
    EXPECT_TRUE(sent) << sent.error().message;
    auto codes = twofa_->confirm(u, sent->method_id, gateway_.last_code(), client_);
    EXPECT_TRUE(codes) << codes.error().message;
    return sent->method_id;
  }

  SessionView pending_for(const store::User& u) {
    auto r = login_->password(u.username, kPassword, false, client_);
    EXPECT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->kind, LoginOutcome::Kind::kSecondFactor);
    auto v = sessions_->resolve(r->session.token);
    EXPECT_TRUE(v);
    return *v;
  }

  bool audited(int64_t uid, const std::string& event) {
    auto e = count_events(uid);
    return std::find(e.begin(), e.end(), event) != e.end();
  }

  FakeGateway gateway_;
  std::unique_ptr<Sms> sms_;
};

TEST_F(SmsTest, EnrolmentSendsACodeAndConfirmationTurnsTwoStepOn) {
  auto u = make_user();
  auto sent = sms_->enrol(u, "079 123 45 67", "CH", "", client_);
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_EQ(sent->masked, "+41 \u2022\u2022 \u2022\u2022\u2022 \u2022\u2022 67");
  EXPECT_EQ(sent->expires_in_s, 300);
  EXPECT_EQ(sent->resend_after_s, 60);
  ASSERT_EQ(gateway_.count(), 1u);
  EXPECT_EQ(gateway_.last().to, "+41791234567");
  EXPECT_NE(gateway_.last().text.find("@localhost #" + gateway_.last_code()), std::string::npos)
      << gateway_.last().text;
  EXPECT_FALSE(*twofa_->enabled(u.id));  // not before the code comes back

  auto codes = twofa_->confirm(u, sent->method_id, gateway_.last_code(), client_);
  ASSERT_TRUE(codes) << codes.error().message;
  EXPECT_EQ(codes->size(), 10u);
  auto methods = *twofa_->active_methods(u.id);
  ASSERT_EQ(methods.size(), 1u);
  EXPECT_EQ(methods[0].type, "sms");
  EXPECT_EQ(methods[0].label, sent->masked);  // no label given: the masked number
  EXPECT_TRUE(methods[0].is_default);
  EXPECT_TRUE(audited(u.id, "sms_sent"));
  EXPECT_TRUE(audited(u.id, "method_added"));
}

TEST_F(SmsTest, NumberIsSealedAndBoundToUserAndMethod) {
  auto u = make_user();
  auto other = make_user("bob");
  int64_t id = enrolled(u);
  auto m = *store_->method_of_user(u.id, id);
  EXPECT_EQ(m.secret.find("791234567"), std::string::npos);
  EXPECT_EQ(m.params.find("791234567"), std::string::npos);
  auto number = twofa_->method_seed(m);
  ASSERT_TRUE(number);
  EXPECT_EQ(number->view(), "+41791234567");
  // Copied to another user's row, it does not open.
  store::Method moved = m;
  moved.user_id = other.id;
  EXPECT_FALSE(twofa_->method_seed(moved));
}

TEST_F(SmsTest, RefusedNumbersSendNothingAndCreateNothing) {
  auto u = make_user();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"+1 202 555 0123", "sms_region_not_allowed"},
      {"+44 7400 123456", "sms_region_not_allowed"},
      {"+41 44 668 18 00", "sms_not_mobile"},
      {"+41 900 123 456", "sms_not_mobile"},
      {"not a number", "invalid_phone"},
  };
  for (const auto& [phone, reason] : cases) {
    auto r = sms_->enrol(u, phone, "", "", client_);
    ASSERT_FALSE(r) << phone;
    EXPECT_EQ(r.error().reason, reason) << phone;
    EXPECT_EQ(r.error().code, core::Code::kInvalidArgument);
  }
  EXPECT_EQ(gateway_.count(), 0u);
  EXPECT_TRUE(store_->methods_of_user(u.id)->empty());
  EXPECT_TRUE(audited(u.id, "sms_number_refused"));
}

TEST_F(SmsTest, WrongEnrolmentCodesSpendAttemptsAndTheSixthIsRefused) {
  auto u = make_user();
  auto sent = sms_->enrol(u, "+33 6 12 34 56 78", "", "", client_);
  ASSERT_TRUE(sent);
  std::string right = gateway_.last_code();
  std::string wrong = right == "000000" ? "111111" : "000000";
  for (int i = 0; i < 5; ++i) {
    auto r = twofa_->confirm(u, sent->method_id, wrong, client_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, "invalid_code");
  }
  auto sixth = twofa_->confirm(u, sent->method_id, right, client_);
  ASSERT_FALSE(sixth);
  EXPECT_EQ(sixth.error().reason, "invalid_code");
  EXPECT_NE(sixth.error().message.find("new code"), std::string::npos) << sixth.error().message;
  EXPECT_FALSE(*twofa_->enabled(u.id));
}

TEST_F(SmsTest, ParallelGuessesGetNoMoreThanMaxAttempts) {
  auto u = make_user();
  auto sent = sms_->enrol(u, "+41 79 123 45 67", "", "", client_);
  ASSERT_TRUE(sent);
  std::string right = gateway_.last_code();
  auto m = *store_->method_of_user(u.id, sent->method_id);
  std::atomic<int> accepted{0};
  std::atomic<int> compared{0};
  std::latch start(20);
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      // The right code is among the guesses; only 5 guesses may be compared at all.
      std::string guess = i == 19 ? right : std::to_string(100000 + i);
      if (guess == right) guess = "999999";
      auto v = sms_->verify(m, guess, true);
      if (v && *v == SmsVerdict::kAccepted) ++accepted;
      if (v && *v == SmsVerdict::kWrong) ++compared;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load() + compared.load(), 5);
  auto code = *store_->sms_latest_code(u.id, sent->method_id, "enroll");
  EXPECT_EQ(code.attempts, 5);
}

TEST_F(SmsTest, CodeExpiresAfterItsLifetime) {
  auto u = make_user();
  auto sent = sms_->enrol(u, "+41 79 123 45 67", "", "", client_);
  ASSERT_TRUE(sent);
  clock_.advance(std::chrono::seconds(300));
  auto late = twofa_->confirm(u, sent->method_id, gateway_.last_code(), client_);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().reason, "invalid_code");
}

TEST_F(SmsTest, ResendWaitsForTheCooldownAndSupersedesTheOldCode) {
  auto u = make_user();
  ASSERT_TRUE(sms_->enrol(u, "+41 79 123 45 67", "", "", client_));
  std::string first = gateway_.last_code();
  clock_.advance(std::chrono::seconds(20));
  auto again = sms_->enrol(u, "+41791234567", "", "", client_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, "rate_limited");
  EXPECT_EQ(again.error().code, core::Code::kResourceExhausted);
  EXPECT_EQ(again.error().retry_after_s, 40);
  EXPECT_EQ(gateway_.count(), 1u);
  // The earlier setup survived the refused resend: its code still works...
  auto methods = *store_->methods_of_user(u.id);
  ASSERT_EQ(methods.size(), 1u);

  clock_.advance(std::chrono::seconds(40));
  auto resent = sms_->enrol(u, "+41791234567", "", "", client_);
  ASSERT_TRUE(resent) << resent.error().message;
  ASSERT_EQ(gateway_.count(), 2u);
  // ...until the resend replaced it: one setup, and only the new code confirms it.
  methods = *store_->methods_of_user(u.id);
  ASSERT_EQ(methods.size(), 1u);
  EXPECT_EQ(methods[0].id, resent->method_id);
  std::string second = gateway_.last_code();
  if (first != second) {
    EXPECT_FALSE(twofa_->confirm(u, resent->method_id, first, client_));
  }
  EXPECT_TRUE(twofa_->confirm(u, resent->method_id, second, client_));
  // The same number twice on one account is refused.
  clock_.advance(std::chrono::seconds(61));
  auto twice = sms_->enrol(u, "+41 79 123 45 67", "", "", client_);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, core::Code::kAlreadyExists);
}

TEST_F(SmsTest, FailedDeliveryCountsNothing) {
  config_.sms.user_daily_max = 1;
  rebuild_sms();
  auto u = make_user();
  gateway_.set_failing(true);
  auto r = sms_->enrol(u, "+41 79 123 45 67", "", "", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kBadGateway);
  EXPECT_EQ(r.error().reason, "sms_delivery_failed");
  EXPECT_TRUE(store_->methods_of_user(u.id)->empty());  // no half-made method
  EXPECT_TRUE(audited(u.id, "sms_delivery_failed"));
  // No cool-down and no count: the next try (same second) goes out.
  gateway_.set_failing(false);
  auto ok = sms_->enrol(u, "+41 79 123 45 67", "", "", client_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(gateway_.count(), 1u);
}

TEST_F(SmsTest, AJobThatWaitedPastItsDeadlineSendsAndCountsNothing) {
  config_.sms.user_daily_max = 1;
  rebuild_sms();
  auto u = make_user();
  auto late = sms_->enrol(u, "+41 79 123 45 67", "", "", client_,
                          std::chrono::steady_clock::now() - std::chrono::milliseconds(1));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().reason, "sms_delivery_failed");
  EXPECT_EQ(gateway_.count(), 0u);
  EXPECT_TRUE(store_->methods_of_user(u.id)->empty());
  auto in_time = sms_->enrol(u, "+41 79 123 45 67", "", "", client_,
                             std::chrono::steady_clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(in_time) << in_time.error().message;
  EXPECT_EQ(gateway_.count(), 1u);
}

TEST_F(SmsTest, DailyCapPerUser) {
  config_.sms.user_daily_max = 2;
  config_.sms.resend_cooldown_s = 0;
  rebuild_sms();
  auto u = make_user();
  ASSERT_TRUE(sms_->enrol(u, "+41 79 123 45 67", "", "", client_));
  ASSERT_TRUE(sms_->enrol(u, "+41 79 123 45 68", "", "", client_));
  auto third = sms_->enrol(u, "+41 79 123 45 69", "", "", client_);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().reason, "sms_limit_reached");
  EXPECT_EQ(third.error().code, core::Code::kResourceExhausted);
  // Retry-After points at the next UTC midnight.
  EXPECT_EQ(third.error().retry_after_s, 86400 - clock_.unix_now() % 86400);
  EXPECT_EQ(gateway_.count(), 2u);
  EXPECT_TRUE(audited(u.id, "sms_limit_reached"));
  // The next UTC day starts a new count.
  clock_.advance(std::chrono::seconds(third.error().retry_after_s));
  EXPECT_TRUE(sms_->enrol(u, "+41 79 123 45 69", "", "", client_));
}

TEST_F(SmsTest, DailyCapPerNumberCoversEveryAccount) {
  config_.sms.number_daily_max = 2;
  rebuild_sms();
  auto a = make_user("alice");
  auto b = make_user("bob");
  auto c = make_user("carol");
  ASSERT_TRUE(sms_->enrol(a, "+41 79 123 45 67", "", "", client_));
  ASSERT_TRUE(sms_->enrol(b, "+41 79 123 45 67", "", "", client_));
  auto third = sms_->enrol(c, "+41 79 123 45 67", "", "", client_);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().reason, "sms_limit_reached");
  EXPECT_NE(third.error().message.find("this number"), std::string::npos);
  EXPECT_TRUE(sms_->enrol(c, "+41 79 123 45 68", "", "", client_));
}

TEST_F(SmsTest, DailyCapPerAddressAndRegionBudget) {
  config_.sms.ip_daily_max = 2;
  config_.sms.region_budgets = {"BE=1"};
  rebuild_sms();
  auto a = make_user("alice");
  auto b = make_user("bob");
  ASSERT_TRUE(sms_->enrol(a, "+32 470 12 34 56", "", "", Client{"198.51.100.7", "x"}));
  auto be = sms_->enrol(b, "+32 470 12 34 57", "", "", Client{"198.51.100.8", "x"});
  ASSERT_FALSE(be);
  EXPECT_EQ(be.error().reason, "sms_limit_reached");
  EXPECT_NE(be.error().message.find("Belgium"), std::string::npos) << be.error().message;
  ASSERT_TRUE(sms_->enrol(b, "+41 79 000 00 01", "", "", Client{"198.51.100.9", "x"}));
  ASSERT_TRUE(sms_->enrol(b, "+41 79 000 00 02", "", "", Client{"198.51.100.9", "x"}));
  auto ip = sms_->enrol(b, "+41 79 000 00 03", "", "", Client{"198.51.100.9", "x"});
  ASSERT_FALSE(ip);
  EXPECT_NE(ip.error().message.find("network"), std::string::npos) << ip.error().message;
}

TEST_F(SmsTest, SignInWithASmsCodeOnce) {
  auto u = make_user();
  int64_t id = enrolled(u);
  auto pending = pending_for(u);
  auto sent = sms_->send_code(u, id, client_);
  ASSERT_TRUE(sent) << sent.error().message;
  std::string code = gateway_.last_code();
  auto done = login_->second_factor(pending, "sms", code, std::nullopt, client_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->check.method_type, "sms");
  EXPECT_EQ(done->check.method_id, id);
  EXPECT_GT(store_->method_of_user(u.id, id)->last_used_at, 0);
  // Replayed in another sign-in: refused.
  auto again = pending_for(u);
  auto replay = login_->second_factor(again, "sms", code, id, client_);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().reason, "invalid_code");
}

// Master-key rotation: a code sent under key 1 still checks when key 2 is current; new codes
// use key 2; a code whose key left the file is refused without an internal error; number
// hashes (cool-downs, per-number caps) do not change, since they use the oldest key.
TEST_F(SmsTest, PendingCodeSurvivesKeyRotation) {
  auto u = make_user();
  int64_t id = enrolled(u);
  ASSERT_TRUE(sms_->send_code(u, id, client_));
  const std::string code = gateway_.last_code();
  EXPECT_EQ(store_->sms_latest_code(u.id, id, "auth")->key_id, 1u);

  keyring_ =
      crypto::Keyring::from_keys({{1, std::string(32, '\x42')}, {2, std::string(32, '\x43')}}, 2);
  rebuild_sms();
  // Sent just now: the cool-down of this number still holds after rotation.
  auto early = sms_->send_code(u, id, client_);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().reason, "rate_limited");
  auto ok = twofa_->check_code(u, "sms", code, std::nullopt, &client_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->method_id, id);

  clock_.advance(std::chrono::seconds(61));
  ASSERT_TRUE(sms_->send_code(u, id, client_));  // the number, sealed under key 1, still opens
  EXPECT_EQ(store_->sms_latest_code(u.id, id, "auth")->key_id, 2u);
  EXPECT_TRUE(twofa_->check_code(u, "sms", gateway_.last_code(), std::nullopt, &client_));
}

TEST_F(SmsTest, RekeyedNumbersAreStillKnownOnceTheOldestKeyIsGone) {
  auto alice = make_user();
  auto bob = make_user("bob");
  auto carol = make_user("carol");
  enrolled(alice);
  ASSERT_TRUE(sms_->enrol(bob, "+41 79 123 45 68", "", "", client_));  // left unconfirmed
  store::Method broken;  // a number that does not open
  broken.user_id = carol.id;
  broken.type = "sms";
  broken.label = "broken";
  broken.params = format_params({{"ref", "00"}, {"nh", "old"}});
  broken.secret = "not a sealed blob";
  broken.created_at = clock_.unix_now();
  ASSERT_TRUE(store_->create_method(broken));

  keyring_ =
      crypto::Keyring::from_keys({{1, std::string(32, '\x42')}, {2, std::string(32, '\x43')}}, 2);
  rebuild_sms();
  auto missing = sms_->rekey_numbers(9);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().reason, "master_key_unavailable");
  auto n = sms_->rekey_numbers(2);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->resealed, 2);
  EXPECT_EQ(n->failed, 1);
  auto again = sms_->rekey_numbers(2);  // idempotent
  ASSERT_TRUE(again);
  EXPECT_EQ(again->resealed, 2);

  // Key 1 retired: number hashes are keyed with key 2, and match the re-keyed methods.
  keyring_ = crypto::Keyring::from_keys({{2, std::string(32, '\x43')}}, 2);
  rebuild_sms();
  auto same = sms_->enrol(alice, "079 123 45 67", "CH", "", client_);
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().reason, "conflict");
  clock_.advance(std::chrono::seconds(61));
  ASSERT_TRUE(sms_->enrol(bob, "+41 79 123 45 68", "", "", client_));
  EXPECT_EQ(store_->methods_of_user(bob.id)->size(), 1u);  // the earlier setup was replaced
}

TEST_F(SmsTest, CodeOfAKeyMissingFromTheFileIsRefusedCleanly) {
  auto u = make_user();
  int64_t id = enrolled(u);
  ASSERT_TRUE(sms_->send_code(u, id, client_));
  const std::string code = gateway_.last_code();
  keyring_ = crypto::Keyring::from_keys({{2, std::string(32, '\x43')}}, 2);
  rebuild_sms();
  auto r = twofa_->check_code(u, "sms", code, std::nullopt, &client_);
  ASSERT_FALSE(r);
  // Not "invalid code": this process cannot check a code hashed under a key it lacks.
  EXPECT_EQ(r.error().code, core::Code::kUnavailable);
  EXPECT_EQ(r.error().reason, "master_key_unavailable");
}

TEST_F(SmsTest, EnrolmentCodeIsNotASignInCode) {
  auto u = make_user();
  int64_t id = enrolled(u);
  // A new setup's code (another number) cannot complete a sign-in with the first one.
  clock_.advance(std::chrono::seconds(61));
  ASSERT_TRUE(sms_->enrol(u, "+41 79 999 88 77", "", "", client_));
  auto pending = pending_for(u);
  auto r = login_->second_factor(pending, "sms", gateway_.last_code(), id, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "invalid_code");
}

TEST_F(SmsTest, SendCodeNeedsAConfirmedSmsMethod) {
  auto u = make_user();
  EXPECT_EQ(sms_->send_code(u, std::nullopt, client_).error().code, core::Code::kNotFound);
  auto sent = sms_->enrol(u, "+41 79 123 45 67", "", "", client_);
  ASSERT_TRUE(sent);
  // Unconfirmed: not usable for sign-in codes.
  EXPECT_EQ(sms_->send_code(u, sent->method_id, client_).error().code, core::Code::kNotFound);
  auto other = make_user("bob");
  int64_t bobs = enrolled(other, "+41 79 555 44 33");
  EXPECT_EQ(sms_->send_code(u, bobs, client_).error().code, core::Code::kNotFound);
}

TEST_F(SmsTest, RegionRemovedLaterStopsSending) {
  auto u = make_user();
  int64_t id = enrolled(u, "+33 6 12 34 56 78");
  config_.sms.allowed_regions = {"CH"};
  rebuild_sms();
  auto r = sms_->send_code(u, id, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "sms_region_not_allowed");
}

TEST_F(SmsTest, ReauthenticationWithASmsCode) {
  auto u = make_user();
  int64_t id = enrolled(u);
  auto pending = pending_for(u);
  ASSERT_TRUE(sms_->send_code(u, id, client_));
  auto done = login_->second_factor(pending, "sms", gateway_.last_code(), id, client_);
  ASSERT_TRUE(done);
  auto view = *sessions_->resolve(done->session.token);
  clock_.advance(std::chrono::seconds(61));
  ASSERT_TRUE(sms_->send_code(u, id, client_));
  std::string code = gateway_.last_code();
  std::string wrong_code = code == "000000" ? "111111" : "000000";
  auto wrong = login_->reauth(view, kPassword, "sms", wrong_code, client_);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().reason, "invalid_code");
  auto ok = login_->reauth(view, kPassword, "sms", gateway_.last_code(), client_);
  EXPECT_TRUE(ok) << ok.error().message;
}

TEST_F(SmsTest, ConcurrentUseOfOneCodeWinsOnce) {
  auto u = make_user();
  int64_t id = enrolled(u);
  ASSERT_TRUE(sms_->send_code(u, id, client_));
  std::string code = gateway_.last_code();
  auto m = *store_->method_of_user(u.id, id);
  std::atomic<int> wins{0};
  std::latch start(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto v = sms_->verify(m, code, false);
      if (v && *v == SmsVerdict::kAccepted) ++wins;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
}

// sms.gateway = "off": nothing is added or sent, and codes already out no longer count; the
// methods users have stay listed and removable, and recovery codes still sign them in.
TEST_F(SmsTest, OffRefusesEnrolmentAndWritesNothing) {
  config_.sms.gateway = "off";
  rebuild_sms();
  auto u = make_user();
  EXPECT_FALSE(sms_->enabled());
  auto r = sms_->enrol(u, "+41 79 123 45 67", "", "", client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kFailedPrecondition);
  EXPECT_EQ(r.error().reason, "sms_disabled");
  EXPECT_NE(r.error().message.find("turned off"), std::string::npos) << r.error().message;
  EXPECT_EQ(gateway_.count(), 0u);
  EXPECT_TRUE(store_->methods_of_user(u.id)->empty());
  EXPECT_FALSE(audited(u.id, "sms_sent"));
  // Bad input gets the same answer: nothing about the number is looked at.
  EXPECT_EQ(sms_->enrol(u, "not a number", "", "", client_).error().reason, "sms_disabled");
  const auto types = twofa_->available_types();
  EXPECT_EQ(std::find(types.begin(), types.end(), "sms"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "totp"), types.end());
  EXPECT_FALSE(twofa_->available("sms"));
  EXPECT_TRUE(twofa_->available("totp"));
}

TEST_F(SmsTest, OnOffersEverything) {
  EXPECT_TRUE(sms_->enabled());
  const auto types = twofa_->available_types();
  EXPECT_EQ(types, (std::vector<std::string>{"totp", "push", "webauthn", "sms", "yubiotp"}));
}

TEST_F(SmsTest, OffKeepsExistingMethodsButRefusesTheirCodes) {
  auto u = make_user();
  auto first = sms_->enrol(u, "+41 79 123 45 67", "", "", client_);
  ASSERT_TRUE(first);
  auto codes = twofa_->confirm(u, first->method_id, gateway_.last_code(), client_);
  ASSERT_TRUE(codes);
  const int64_t id = first->method_id;
  // A code sent before the switch, and an unfinished setup of another number.
  ASSERT_TRUE(sms_->send_code(u, id, client_));
  const std::string sent_before = gateway_.last_code();
  auto setup = sms_->enrol(u, "+41 79 999 88 77", "", "", client_);
  ASSERT_TRUE(setup);
  const std::string setup_code = gateway_.last_code();
  const size_t messages = gateway_.count();

  config_.sms.gateway = "off";
  rebuild_sms();
  auto pending = pending_for(u);
  auto send = sms_->send_code(u, id, client_);
  ASSERT_FALSE(send);
  EXPECT_EQ(send.error().reason, "sms_disabled");
  EXPECT_EQ(gateway_.count(), messages);
  // The code already out does not sign in, and is not a wrong code either: nothing counted,
  // the pending sign-in goes on.
  auto r = login_->second_factor(pending, "sms", sent_before, id, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kFailedPrecondition);
  EXPECT_EQ(r.error().reason, "sms_disabled");
  EXPECT_FALSE(audited(u.id, "second_factor_failed"));
  // Nor does it confirm the unfinished setup, which stays unconfirmed.
  auto confirmed = twofa_->confirm(u, setup->method_id, setup_code, client_);
  ASSERT_FALSE(confirmed);
  EXPECT_EQ(confirmed.error().reason, "sms_disabled");
  EXPECT_FALSE(store_->method_of_user(u.id, setup->method_id)->confirmed);
  // A recovery code completes the same pending sign-in.
  auto done = login_->second_factor(pending, "recovery", codes->front(), std::nullopt, client_);
  ASSERT_TRUE(done) << done.error().message;
  // Re-authentication with an SMS code: the same refusal, not a failure.
  auto view = *sessions_->resolve(done->session.token);
  auto re = login_->reauth(view, kPassword, "sms", sent_before, client_);
  ASSERT_FALSE(re);
  EXPECT_EQ(re.error().reason, "sms_disabled");
  EXPECT_FALSE(audited(u.id, "reauth_failed"));
  // The method stays listed and can be removed (the last one: 2FA goes off).
  auto active = twofa_->active_methods(u.id);
  ASSERT_TRUE(active);
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ(active->front().id, id);
  EXPECT_TRUE(twofa_->remove(u, id, client_));
  EXPECT_FALSE(*twofa_->enabled(u.id));
}

TEST_F(SmsTest, UnknownTypeListsSms) {
  auto u = make_user();
  auto r = twofa_->check_code(u, "carrier-pigeon", "123456", std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("sms"), std::string::npos);
}

TEST(SmsConfigTest, ChecksEveryKey) {
  core::Config ok = test_config();
  EXPECT_TRUE(check_sms_config(ok));
  auto refused = [](auto change, const std::string& key) {
    core::Config c = test_config();
    change(c);
    auto st = check_sms_config(c);
    ASSERT_FALSE(st) << key;
    EXPECT_NE(st.error().message.find(key), std::string::npos) << st.error().message;
  };
  refused([](core::Config& c) { c.sms.allowed_regions = {"XX"}; }, "sms.allowed_regions");
  refused([](core::Config& c) { c.sms.region_budgets = {"CH:5"}; }, "sms.region_budgets");
  refused([](core::Config& c) { c.sms.region_budgets = {"GB=5"}; }, "sms.region_budgets");
  refused([](core::Config& c) { c.sms.max_attempts = 0; }, "sms.max_attempts");
  refused([](core::Config& c) { c.sms.threads = 0; }, "sms.threads");
  refused([](core::Config& c) { c.sms.gateway = "carrier-pigeon"; }, "sms.gateway");
  refused([](core::Config& c) { c.sms.gateway = "Off"; }, "expected off, log, http or twilio");
  refused([](core::Config& c) { c.sms.gateway = ""; }, "sms.gateway");
  refused([](core::Config& c) { c.sms.gateway = "http"; }, "sms.http_url");
  refused(
      [](core::Config& c) {
        c.sms.gateway = "http";
        c.sms.http_url = "ftp://x";
      },
      "sms.http_url");
  refused(
      [](core::Config& c) {
        c.sms.gateway = "http";
        c.sms.http_url = "https://sms.example/send";
        c.sms.http_body = R"({"to":"{to}"})";
      },
      "sms.http_body");
  refused(
      [](core::Config& c) {
        c.sms.gateway = "http";
        c.sms.http_url = "https://sms.example/send";
        c.sms.http_body = R"({"to":{to},"text":"{message}"})";  // unquoted: not JSON
      },
      "sms.http_body");
  refused(
      [](core::Config& c) {
        c.sms.gateway = "http";
        c.sms.http_url = "https://sms.example/send";
        c.sms.http_headers = {"Authorization Bearer x"};
      },
      "sms.http_headers");
  refused([](core::Config& c) { c.sms.gateway = "twilio"; }, "sms.twilio_account_sid");
  refused(
      [](core::Config& c) {
        c.sms.gateway = "twilio";
        c.sms.twilio_account_sid = "AC123";
      },
      "sms.twilio_auth_token");
  refused(
      [](core::Config& c) {
        c.sms.gateway = "twilio";
        c.sms.twilio_account_sid = "AC123";
        c.sms.twilio_auth_token = "t";
      },
      "sms.twilio_from");
  refused([](core::Config& c) { c.sms.timeout_ms = 10; }, "sms.timeout_ms");

  core::Config twilio = test_config();
  twilio.sms.gateway = "twilio";
  twilio.sms.twilio_account_sid = "AC0123";
  twilio.sms.twilio_auth_token = "secret";
  twilio.sms.twilio_messaging_service_sid = "MG0123";
  EXPECT_TRUE(check_sms_config(twilio));
  EXPECT_TRUE(make_sms_gateway(twilio.sms));
}

TEST(SmsConfigTest, OffNeedsNoProviderAndSendsNothing) {
  core::Config off = test_config();
  off.sms.gateway = "off";
  off.sms.http_url = "";  // what http would need is not asked for
  EXPECT_TRUE(check_sms_config(off));
  EXPECT_TRUE(sms_off(off.sms));
  EXPECT_FALSE(sms_off(test_config().sms));
  auto g = make_sms_gateway(off.sms);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ((*g)->name(), "off");
  auto st = (*g)->send(SmsMessage{"+41791234567", "123456 is your code"});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().reason, "sms_disabled");
  // The other keys are still checked: a wrong value is a wrong value.
  off.sms.max_attempts = 0;
  EXPECT_FALSE(check_sms_config(off));
}

TEST(SmsGatewayTest, BodyTemplateEscapesValues) {
  std::string body = sms_detail::render_body(R"({"to":"{to}","text":"{message}","n":1})",
                                             "+41791234567", "12 \"quoted\"\n@h #1 \\ é");
  EXPECT_EQ(body, R"({"to":"+41791234567","text":"12 \"quoted\"\n@h #1 \\ é","n":1})");
  EXPECT_EQ(sms_detail::render_body("{to}{to}{x}", "a", "b"), "aa{x}");
}

TEST(SmsGatewayTest, FormEncoding) {
  EXPECT_EQ(sms_detail::form_encode({{"To", "+41791234567"}, {"Body", "123456 is it\n@h #1&x=y"}}),
            "To=%2B41791234567&Body=123456%20is%20it%0A%40h%20%231%26x%3Dy");
  EXPECT_EQ(sms_detail::form_encode({{"From", "Acme_1.2~-"}}), "From=Acme_1.2~-");
}

TEST(SmsGatewayTest, TwilioUrl) {
  EXPECT_EQ(sms_detail::twilio_messages_url("https://api.twilio.com/", "AC1"),
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json");
  EXPECT_EQ(sms_detail::twilio_messages_url("http://127.0.0.1:9/x", "AC1"),
            "http://127.0.0.1:9/x/2010-04-01/Accounts/AC1/Messages.json");
}

TEST(SmsGatewayTest, UnreachableHttpGatewayFailsWithinTheTimeBudget) {
  core::SmsConfig s;
  s.gateway = "http";
  s.http_url = "http://127.0.0.1:9/send";  // discard port: nothing listens
  s.timeout_ms = 1500;
  s.retries = 2;
  auto g = make_sms_gateway(s);
  ASSERT_TRUE(g) << g.error().message;
  auto started = std::chrono::steady_clock::now();
  auto st = (*g)->send(SmsMessage{"+41791234567", "123456 is your code"});
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, core::Code::kBadGateway);
  EXPECT_EQ(st.error().reason, "sms_delivery_failed");
  EXPECT_EQ(st.error().detail.find("123456"), std::string::npos);  // the text never in details
  // Three refused connections, with two back-offs (200 + 400 ms) in between.
  EXPECT_NE(st.error().detail.find("; "), std::string::npos) << st.error().detail;
  EXPECT_LT(took, std::chrono::milliseconds(1600));

  // A message's own deadline cuts the budget short (the time it waited in the queue).
  started = std::chrono::steady_clock::now();
  auto cut = (*g)->send(
      SmsMessage{"+41791234567", "123456 is your code", started + std::chrono::milliseconds(300)});
  ASSERT_FALSE(cut);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(450));
}

}  // namespace
}  // namespace twostep::services::testing
