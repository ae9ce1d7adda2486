// The cost of push approval's cryptography per request: building the signed text (SHA-256
// of the body) and verifying its Ed25519 signature, which the server does for every request
// of an authenticator; signing (the authenticator's side) and drawing the numbers.
#include <benchmark/benchmark.h>

#include <string>

#include "twostep/factors/push.hpp"

namespace {

using namespace twostep::factors::push;

const std::string kTarget = "/api/v1/devices/approvals/123456";
const std::string kBody = R"({"approve":true,"number":42})";

void BM_PushSigningString(benchmark::State& state) {
  for (auto _ : state) {
    auto s = signing_string("POST", kTarget, "Yq3k0c1N2m4p5r6s7t8u9v", 1'700'000'000'123, kBody);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_PushSigningString);

void BM_PushVerify(benchmark::State& state) {
  auto kp = generate_keypair();
  const std::string msg = signing_string("POST", kTarget, "dev", 1'700'000'000'123, kBody);
  const std::string sig = sign(kp.secret_key.view(), msg);
  for (auto _ : state) {
    bool ok = verify(kp.public_key, msg, sig);
    benchmark::DoNotOptimize(ok);
    if (!ok) state.SkipWithError("signature did not verify");
  }
}
BENCHMARK(BM_PushVerify);

void BM_PushSign(benchmark::State& state) {
  auto kp = generate_keypair();
  const std::string msg = signing_string("POST", kTarget, "dev", 1'700'000'000'123, kBody);
  for (auto _ : state) {
    auto sig = sign(kp.secret_key.view(), msg);
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_PushSign);

void BM_PushNumberChallenge(benchmark::State& state) {
  for (auto _ : state) {
    auto c = new_number_challenge();
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_PushNumberChallenge);

}  // namespace

BENCHMARK_MAIN();
