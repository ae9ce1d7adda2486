// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/): valid inputs of every
// kind each parser accepts, built with the tests' software authenticator and YubiKey. Not
// part of the normal build: `cmake --build build/debug --target fuzz_corpus` then
// `build/debug/tests/fuzz_corpus tests/fuzz/corpus`.
#include <filesystem>
#include <fstream>
#include <string>

#include "twostep/crypto/random.hpp"
#include "unit/soft_authenticator.hpp"
#include "unit/soft_yubikey.hpp"

namespace {

void write(const std::filesystem::path& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace twostep::testing;
  namespace wa = twostep::factors::webauthn;
  std::filesystem::path root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
  auto web = root / "webauthn";
  std::string challenge(wa::kChallengeSize, '\x2a');
  for (int alg : {wa::kEs256, wa::kRs256, wa::kEdDsa}) {
    SoftCredential cred(alg);
    std::string a = std::to_string(-alg);
    write(web, "cose_" + a, cred.key().cose());
    write(web, "attestation_none_" + a, cred.register_with(challenge, "none").attestation_object);
    write(web, "attestation_packed_self_" + a,
          cred.register_with(challenge, "packed-self").attestation_object);
    write(web, "attestation_packed_x5c_" + a,
          cred.register_with(challenge, "packed-x5c").attestation_object);
    write(web, "authdata_attested_" + a, cred.auth_data(CeremonyOptions{}, true));
  }
  SoftCredential es;
  write(web, "attestation_fido_u2f", es.register_with(challenge, "fido-u2f").attestation_object);
  auto assertion = es.assert_with(challenge);
  write(web, "authdata_assertion", assertion.authenticator_data);
  write(web, "client_data_get", assertion.client_data_json);
  std::string ext = es.auth_data(CeremonyOptions{}, false);
  ext[32] = static_cast<char>(ext[32] | wa::kFlagExtensions);
  write(web, "authdata_extensions",
        ext +
            "\xa1\x6b"
            "credProtect\x02");

  auto yk = root / "yubico_otp";
  SoftYubikey key;
  write(yk, "otp", key.otp());
  write(yk, "otp_upper_spaced", "  VVCCCCBDHKTI" + key.otp().substr(12) + "\n");
  write(yk, "keys_yubico_format", key.csv_line() + "\n" + SoftYubikey().csv_line("99") + "\n");
  write(yk, "keys_traditional",
        "LOGGING START,12/10/12 10:43\nYubico OTP,12/10/12 10:43,1,vvccccbdhkti,0f1a0c29f5d0,"
        "f0a52a51263a1ad4085ca6ad6e6b09eb,,,0,0,0,0,0,0,0,0,0,0\n");
  write(yk, "keys_plain",
        "# comment\nvvccccbdhkti,0f1a0c29f5d0,f0a52a51263a1ad4085ca6ad6e6b09eb\n");
  return 0;
}
