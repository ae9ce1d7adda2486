// libFuzzer target for everything WebAuthn parses from a client: attestation objects,
// authenticator data, COSE keys and clientDataJSON, plus the full registration and assertion
// checks over whatever parsed. Any crash, leak or sanitizer report is a bug; refusals are not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "twostep/factors/webauthn/webauthn.hpp"

namespace wa = twostep::factors::webauthn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const wa::RelyingParty rp = *wa::relying_party("http://localhost:8080", {}, false);
  static const std::string challenge(wa::kChallengeSize, '\x2a');
  static const std::string client_data =
      R"({"type":"webauthn.create","challenge":"KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio","origin":"http://localhost:8080"})";

  (void)wa::parse_client_data(in);
  (void)wa::parse_cose_key(in);
  if (auto ad = wa::parse_authenticator_data(in); ad && !ad->credential_public_key.empty()) {
    (void)wa::parse_cose_key(ad->credential_public_key);
  }
  if (auto ao = wa::parse_attestation_object(in)) {
    (void)wa::verify_registration(rp, challenge, client_data, in);
    // The attested key, if any, checks an assertion made of the same bytes.
    if (!ao->auth_data.credential_public_key.empty()) {
      (void)wa::verify_assertion(rp, challenge, client_data, ao->auth_data_raw,
                                 ao->sig.value_or("x"), ao->auth_data.credential_public_key);
    }
  }
  return 0;
}
