// TOTP verification cost, worst case: window ±1, the code matches the last candidate.
// twostep's totp_match against liboath's oath_totp_validate on the same secret, time and
// code, so a change that makes twostep slower than the reference shows here.
#include <benchmark/benchmark.h>
#include <liboath/oath.h>

#include <cstdlib>
#include <string>

#include "twostep/factors/otp.hpp"

namespace {

using twostep::factors::TotpParams;

const std::string kKey = "12345678901234567890";  // 20-byte SHA-1 key (RFC 6238)
constexpr int64_t kNow = 1'700'000'015;
constexpr int kWindow = 1;

// liboath checks now, now-1, now+1 and stops at the first match; twostep always checks all
// three. The code of step now+1 is the last candidate for both.
const std::string& worst_case_code() {
  static const std::string code = twostep::factors::totp(TotpParams{}, kKey, kNow + 30);
  return code;
}

void BM_TwostepTotpMatch(benchmark::State& state) {
  const TotpParams p{};
  const std::string& code = worst_case_code();
  for (auto _ : state) {
    auto step = twostep::factors::totp_match(p, kKey, code, kNow, kWindow);
    benchmark::DoNotOptimize(step);
    if (!step) state.SkipWithError("twostep did not match");
  }
}
BENCHMARK(BM_TwostepTotpMatch);

void BM_LiboathTotpValidate(benchmark::State& state) {
  static const bool ready = oath_init() == OATH_OK;
  if (!ready) {
    state.SkipWithError("oath_init failed");
    return;
  }
  const std::string& code = worst_case_code();
  for (auto _ : state) {
    int rc = oath_totp_validate(kKey.data(), kKey.size(), kNow, OATH_TOTP_DEFAULT_TIME_STEP_SIZE,
                                OATH_TOTP_DEFAULT_START_TIME, kWindow, code.c_str());
    benchmark::DoNotOptimize(rc);
    if (rc < 0) state.SkipWithError("liboath did not match");
  }
}
BENCHMARK(BM_LiboathTotpValidate);

}  // namespace

BENCHMARK_MAIN();
