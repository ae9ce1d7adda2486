// Cost of checking a security key at sign-in, per algorithm: the WebAuthn assertion check
// (clientDataJSON, authenticator data, COSE key parse, signature) and a Yubico OTP (modhex,
// AES-128, CRC). Both run on the db pool with the store writes; compare with Argon2id
// (password_bench), which dominates a sign-in.
#include <benchmark/benchmark.h>

#include "twostep/factors/webauthn/webauthn.hpp"
#include "twostep/factors/yubico_otp/yubico_otp.hpp"
#include "unit/soft_authenticator.hpp"
#include "unit/soft_yubikey.hpp"

namespace {

namespace wa = twostep::factors::webauthn;
namespace yk = twostep::factors::yubico_otp;
using twostep::testing::SoftCredential;

void BM_WebauthnAssertion(benchmark::State& state) {
  const int alg = static_cast<int>(state.range(0));
  SoftCredential cred(alg);
  auto rp = *wa::relying_party("http://localhost:8080", {}, false);
  std::string challenge(wa::kChallengeSize, '\x07');
  auto a = cred.assert_with(challenge);
  std::string cose = cred.key().cose();
  for (auto _ : state) {
    auto r = wa::verify_assertion(rp, challenge, a.client_data_json, a.authenticator_data,
                                  a.signature, cose);
    if (!r) state.SkipWithError("assertion refused");
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(alg == wa::kEs256 ? "ES256" : alg == wa::kEdDsa ? "EdDSA" : "RS256");
}
BENCHMARK(BM_WebauthnAssertion)
    ->Arg(wa::kEs256)
    ->Arg(wa::kEdDsa)
    ->Arg(wa::kRs256)
    ->Unit(benchmark::kMicrosecond);

void BM_WebauthnRegistrationPackedX5c(benchmark::State& state) {
  SoftCredential cred;
  auto rp = *wa::relying_party("http://localhost:8080", {}, false);
  std::string challenge(wa::kChallengeSize, '\x07');
  auto reg = cred.register_with(challenge, "packed-x5c");
  for (auto _ : state) {
    auto r = wa::verify_registration(rp, challenge, reg.client_data_json, reg.attestation_object);
    if (!r) state.SkipWithError("registration refused");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_WebauthnRegistrationPackedX5c)->Unit(benchmark::kMicrosecond);

void BM_YubicoOtpParseAndDecrypt(benchmark::State& state) {
  twostep::testing::SoftYubikey key;
  std::string otp = key.otp();
  for (auto _ : state) {
    auto parsed = yk::parse_otp(otp);
    auto c = yk::decrypt_token(parsed->token, key.aes_key, key.private_id);
    if (!c) state.SkipWithError("otp refused");
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_YubicoOtpParseAndDecrypt)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
