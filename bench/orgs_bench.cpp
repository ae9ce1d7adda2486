// Organisations on a SQLite file (WAL), as the server runs them: the admin view of N members
// (one query with each member's confirmed method types), the policy lookup that every
// sign-in without 2FA makes, and the housekeeping sweep that restricts the sessions of
// members past their enrolment deadline (run every 5 minutes).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "twostep/core/clock.hpp"
#include "twostep/core/config.hpp"
#include "twostep/core/metrics.hpp"
#include "twostep/crypto/keyring.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/orgs.hpp"
#include "twostep/services/sessions.hpp"
#include "twostep/services/throttle.hpp"
#include "twostep/services/twofa.hpp"
#include "twostep/store/store.hpp"

namespace {

using namespace twostep;
constexpr int64_t kNow = 1'700'000'000;

// One organisation of `members` members (half with a confirmed TOTP method), each with one
// full session; the policy requires 2FA with no grace, so half the members are overdue.
struct Bed {
  explicit Bed(int members) : keyring(crypto::Keyring::from_keys({{1, std::string(32, 'k')}}, 1)) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "twostep_bench_XXXXXX").string();
    dir = mkdtemp(pattern.data());
    store = std::move(*store::open_store("sqlite:" + dir + "/db.sqlite"));
    (void)store->migrate();
    services::Deps d{*store, clock, keyring, config, metrics};
    audit = std::make_unique<services::Audit>(d);
    throttles = std::make_unique<services::Throttles>(d);
    sessions = std::make_unique<services::Sessions>(d, *audit);
    twofa = std::make_unique<services::TwoFactor>(d, *audit);
    orgs = std::make_unique<services::Orgs>(d, *audit, *sessions, *twofa, *throttles);
    auto owner = *store->create_user("owner", "h", kNow);
    org = *store->create_org("Bench", owner.id, kNow);
    for (int i = 0; i < members; ++i) {
      auto u = *store->create_user("member" + std::to_string(i), "h", kNow);
      (void)store->add_org_member(org.id, u.id, store::OrgRole::kMember, kNow);
      if (i % 2 == 0) {
        store::Method m;
        m.user_id = u.id;
        m.type = "totp";
        m.confirmed = true;
        m.created_at = kNow;
        (void)store->create_method(m);
      }
      store::Session s;
      s.token_hash = "t" + std::to_string(i);
      s.user_id = u.id;
      s.created_at = s.last_seen_at = kNow;
      s.expires_at = s.absolute_expires_at = kNow + 86400;
      (void)store->create_session(s);
      last_user = u.id;
    }
    (void)store->set_org_policy(org.id, true, 0, kNow);
  }
  ~Bed() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::string dir;
  core::Config config;
  core::FakeClock clock{kNow + 60};
  core::Metrics metrics;
  crypto::Keyring keyring;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<services::Audit> audit;
  std::unique_ptr<services::Throttles> throttles;
  std::unique_ptr<services::Sessions> sessions;
  std::unique_ptr<services::TwoFactor> twofa;
  std::unique_ptr<services::Orgs> orgs;
  store::Org org;
  int64_t last_user = 0;
};

void BM_OrgMembersView(benchmark::State& state) {
  Bed bed(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto view = bed.orgs->members(services::Actor::cli(), bed.org.id);
    if (!view || view->members.size() != static_cast<size_t>(state.range(0) + 1)) {
      state.SkipWithError("members view failed");
    }
    benchmark::DoNotOptimize(view);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_OrgMembersView)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond);

// What a sign-in without 2FA adds: the strictest policy over the user's organisations.
void BM_EnrollmentRequirement(benchmark::State& state) {
  Bed bed(100);
  for (auto _ : state) {
    auto r = bed.orgs->requirement(bed.last_user);
    if (!r || !*r) state.SkipWithError("no requirement");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_EnrollmentRequirement)->Unit(benchmark::kMicrosecond);

// The 5-minute sweep once every overdue session is restricted already (the steady state).
void BM_EnforceDeadlinesSweep(benchmark::State& state) {
  Bed bed(static_cast<int>(state.range(0)));
  bed.orgs->enforce_deadlines();  // the first round restricts; later rounds find nothing new
  for (auto _ : state) {
    bed.orgs->enforce_deadlines();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EnforceDeadlinesSweep)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
