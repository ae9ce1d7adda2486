// A WebAuthn Level 2 relying party's checks, as pure functions over the bytes a browser sends:
// registration (§7.1) and authentication (§7.2) ceremonies, authenticator data, client data
// and the attestation formats "none", "packed" (self and x5c) and "fido-u2f". No I/O, no
// store: challenges, credential lookup, user binding and the signature counter are the
// service's job. The attestation certificate chain is NOT evaluated against trust anchors
// (x5c is checked for the statement's signature and the certificate's FIDO profile only), so
// "basic" attestation says which key signed, not that a vendor vouches for it.
//
// Every failure is kInvalidArgument with one of these reasons (the message is for people,
// the detail for logs): malformed, wrong_type, challenge_mismatch, wrong_origin, wrong_rp,
// user_not_present, user_not_verified, unsupported_algorithm, unsupported_attestation,
// bad_attestation, bad_signature.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/error.hpp"
#include "twostep/factors/webauthn/cose.hpp"

namespace twostep::factors::webauthn {

// Bounds on what a client may send; anything larger is malformed.
inline constexpr size_t kMaxClientDataJson = 4096;
inline constexpr size_t kMaxAttestationObject = 16384;
inline constexpr size_t kMaxAuthenticatorData = 4096;
inline constexpr size_t kMaxSignature = 1024;
inline constexpr size_t kMaxCredentialId = 1023;  // WebAuthn L2 §6.1
inline constexpr size_t kChallengeSize = 32;

struct RelyingParty {
  std::string id;                    // the RP id: the host of server.public_url
  std::vector<std::string> origins;  // exact origins accepted in clientDataJSON
  bool require_user_verification = false;
};

// RP id and origins from the public URL ("https://id.example.com/" → id "id.example.com",
// origin "https://id.example.com") plus extra origins. kInvalidArgument for a URL without a
// host or an extra origin that is not scheme://host[:port].
core::Result<RelyingParty> relying_party(std::string_view public_url,
                                         const std::vector<std::string>& extra_origins,
                                         bool require_user_verification);

// Authenticator data flags (WebAuthn L2 §6.1).
inline constexpr uint8_t kFlagUserPresent = 0x01;
inline constexpr uint8_t kFlagUserVerified = 0x04;
inline constexpr uint8_t kFlagBackupEligible = 0x08;
inline constexpr uint8_t kFlagBackedUp = 0x10;
inline constexpr uint8_t kFlagAttestedData = 0x40;
inline constexpr uint8_t kFlagExtensions = 0x80;

struct AuthenticatorData {
  std::string rp_id_hash;  // 32 bytes
  uint8_t flags = 0;
  uint32_t sign_count = 0;
  // Present when kFlagAttestedData is set.
  std::string aaguid;                 // 16 bytes
  std::string credential_id;          // 1..kMaxCredentialId bytes
  std::string credential_public_key;  // the COSE_Key, as CBOR bytes
  bool has(uint8_t flag) const { return (flags & flag) != 0; }
};

// Parses and bounds-checks authenticator data: the attested credential data when flagged,
// the extensions map when flagged, and nothing after them.
core::Result<AuthenticatorData> parse_authenticator_data(std::string_view data);

struct ClientData {
  std::string type;       // "webauthn.create" or "webauthn.get"
  std::string challenge;  // decoded bytes
  std::string origin;
  bool cross_origin = false;
};
core::Result<ClientData> parse_client_data(std::string_view json);

// An attestation object with its statement's fields pulled out (only "none", "packed" and
// "fido-u2f" are understood; anything else is unsupported_attestation).
struct AttestationObject {
  std::string fmt;
  std::string auth_data_raw;
  AuthenticatorData auth_data;
  bool stmt_empty = true;
  std::optional<int64_t> alg;      // packed
  std::optional<std::string> sig;  // packed, fido-u2f
  std::vector<std::string> x5c;    // DER certificates, leaf first
};
core::Result<AttestationObject> parse_attestation_object(std::string_view cbor);

struct Registration {
  std::string credential_id;
  std::string public_key_cose;
  int alg = 0;
  uint32_t sign_count = 0;
  std::string aaguid;
  std::string fmt;               // none, packed, fido-u2f
  std::string attestation_type;  // "none", "self" or "basic" (x5c; chain not evaluated)
  bool user_verified = false;
  bool backup_eligible = false;
};

// Registration ceremony, §7.1 steps 5-21 (the service checks credential id uniqueness and
// binds it to the user): clientDataJSON type/challenge/origin, rpIdHash, UP (and UV when
// required), algorithm, attestation statement.
core::Result<Registration> verify_registration(const RelyingParty& rp,
                                               std::string_view expected_challenge,
                                               std::string_view client_data_json,
                                               std::string_view attestation_object);

struct Assertion {
  uint32_t sign_count = 0;
  bool user_verified = false;
};

// Authentication ceremony, §7.2 steps 7-21 minus the counter policy (which needs the stored
// counter: see counter_ok): clientDataJSON, rpIdHash, UP/UV and the signature over
// authenticatorData || SHA-256(clientDataJSON) with the stored COSE key.
core::Result<Assertion> verify_assertion(const RelyingParty& rp,
                                         std::string_view expected_challenge,
                                         std::string_view client_data_json,
                                         std::string_view authenticator_data,
                                         std::string_view signature,
                                         std::string_view public_key_cose);

// §7.2 step 21: when either counter is non-zero the new one must be greater. False means a
// possible cloned authenticator.
inline bool counter_ok(uint32_t stored, uint32_t received) {
  if (stored == 0 && received == 0) return true;
  return received > stored;
}

}  // namespace twostep::factors::webauthn
