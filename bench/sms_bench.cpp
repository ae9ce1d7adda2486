// SMS codes: the cost of the number rules (libphonenumber parse + region + type) and of one
// whole sign-in code round on the in-memory SQLite store with a gateway that only records:
// reserve (cool-down, 4 daily quotas) + send + mark sent, then spend an attempt + compare +
// consume. The real cost of an SMS is the provider's network round trip, which runs on the
// sms pool; these figures are what twostep itself adds.
#include <benchmark/benchmark.h>

#include <regex>

#include "twostep/core/clock.hpp"
#include "twostep/core/config.hpp"
#include "twostep/core/metrics.hpp"
#include "twostep/crypto/keyring.hpp"
#include "twostep/factors/sms/phone.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/sms.hpp"
#include "twostep/services/twofa.hpp"
#include "twostep/store/store.hpp"

namespace {

using namespace twostep;

const std::vector<std::string> kRegions = {"CH", "FR", "BE", "DE"};

void BM_ParsePhoneE164(benchmark::State& state) {
  for (auto _ : state) {
    auto n = factors::sms::parse_phone("+41 79 123 45 67", "", kRegions);
    benchmark::DoNotOptimize(n);
    if (!n) state.SkipWithError("refused");
  }
}
BENCHMARK(BM_ParsePhoneE164);

void BM_ParsePhoneNational(benchmark::State& state) {
  for (auto _ : state) {
    auto n = factors::sms::parse_phone("01512 3456789", "DE", kRegions);
    benchmark::DoNotOptimize(n);
    if (!n) state.SkipWithError("refused");
  }
}
BENCHMARK(BM_ParsePhoneNational);

class Recorder final : public services::SmsGateway {
 public:
  std::string_view name() const override { return "bench"; }
  core::Status send(const services::SmsMessage& m) override {
    last = m.text;
    return core::ok();
  }
  std::string code() const { return last.substr(0, 6); }
  std::string last;
};

void BM_SmsSignInCodeRound(benchmark::State& state) {
  core::Config config;
  config.sms.resend_cooldown_s = 0;
  config.sms.user_daily_max = 1'000'000'000;
  config.sms.number_daily_max = 1'000'000'000;
  config.sms.ip_daily_max = 1'000'000'000;
  config.sms.region_daily_budget = 1'000'000'000;
  core::FakeClock clock;
  core::Metrics metrics;
  auto keyring = crypto::Keyring::from_keys({{1, std::string(32, '\x42')}}, 1);
  auto store = std::move(*store::open_store("sqlite::memory:"));
  (void)store->migrate();
  services::Deps deps{*store, clock, keyring, config, metrics};
  services::Audit audit(deps);
  services::TwoFactor twofa(deps, audit);
  Recorder gateway;
  services::Sms sms(deps, audit, twofa, gateway);
  services::Client client{"192.0.2.1", "bench"};
  auto user = *store->create_user("bench", "x", clock.unix_now());
  auto sent = sms.enrol(user, "+41 79 123 45 67", "", "", client);
  if (!sent || !twofa.confirm(user, sent->method_id, gateway.code(), client)) {
    state.SkipWithError("enrolment failed");
    return;
  }
  auto method = *store->method_of_user(user.id, sent->method_id);
  for (auto _ : state) {
    auto s = sms.send_code(user, method.id, client);
    auto v = sms.verify(method, gateway.code(), false);
    if (!s || !v || *v != services::SmsVerdict::kAccepted) state.SkipWithError("round failed");
  }
}
BENCHMARK(BM_SmsSignInCodeRound)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
