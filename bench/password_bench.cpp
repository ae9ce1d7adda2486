// Time of one Argon2id verification at the default cost: the unit that bounds sign-in
// throughput (cores / this time). scripts/bench reads it to compute the limit.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <thread>

#include "twostep/core/config.hpp"
#include "twostep/crypto/password.hpp"

namespace {

void BM_Argon2idVerifyDefaultCost(benchmark::State& state) {
  twostep::core::SecurityConfig cfg;
  twostep::crypto::PasswordParams p{cfg.argon2_memory_kib, cfg.argon2_iterations};
  auto hash = twostep::crypto::hash_password("correct horse battery staple 42", p);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        twostep::crypto::verify_password(*hash, "correct horse battery staple 42"));
  }
}
BENCHMARK(BM_Argon2idVerifyDefaultCost)->Unit(benchmark::kMillisecond)->MinTime(2.0);
// One verification per core at once: what the cores deliver together when they share the
// memory bandwidth and the kernel's page work for Argon2id's 19 MiB (scripts/bench reports it
// beside the limit, which assumes cores that do not slow each other down).
BENCHMARK(BM_Argon2idVerifyDefaultCost)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->Threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())))
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
