// Security keys as second factors: WebAuthn/FIDO2 credentials (registration and sign-in
// ceremonies around factors/webauthn) and Yubico OTP (keys imported by an operator, bound to
// a user by typing one OTP, checked at sign-in through TwoFactor::check_code type
// "yubiotp"). Challenges are single-use, 5 minutes, bound to the session; counters only move
// forward by one conditional write, and a counter that goes back is refused and audited as a
// possible cloned key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "twostep/factors/webauthn/webauthn.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"
#include "twostep/services/login.hpp"
#include "twostep/services/sessions.hpp"
#include "twostep/services/twofa.hpp"

namespace twostep::services {

inline constexpr int kWebauthnChallengeTtlS = 300;

// A registered credential as the browser needs it in excludeCredentials/allowCredentials.
struct CredentialDescriptor {
  std::string id;  // raw credential id
  std::vector<std::string> transports;
};

// PublicKeyCredentialCreationOptions, in raw bytes (the API encodes them).
struct CreationOptions {
  std::string challenge;
  std::string rp_id;
  std::string rp_name;
  std::string user_handle;
  std::string user_name;
  std::vector<int> algorithms;  // preference order
  std::vector<CredentialDescriptor> exclude;
  std::string user_verification;
  std::string attestation;
  int timeout_ms = kWebauthnChallengeTtlS * 1000;
};

// PublicKeyCredentialRequestOptions.
struct RequestOptions {
  std::string challenge;
  std::string rp_id;
  std::vector<CredentialDescriptor> allow;
  std::string user_verification;
  int timeout_ms = kWebauthnChallengeTtlS * 1000;
};

// What the browser's PublicKeyCredential carried, decoded from base64url.
struct CredentialResponse {
  std::string raw_id;
  std::string client_data_json;
  std::string attestation_object;  // registration
  std::string authenticator_data;  // sign-in
  std::string signature;           // sign-in
  std::string user_handle;         // sign-in; may be empty
  std::vector<std::string> transports;
};

struct NewMethod {
  int64_t method_id = 0;
  std::vector<std::string> recovery_codes;
};

struct YubikeyInfo {
  std::string public_id;
  int64_t imported_at = 0;
  int64_t last_used_at = 0;
  std::string owner;  // username, empty when no account uses it
};

class SecurityKeys {
 public:
  // Registers the "yubiotp" code type with `twofa`. Throws std::invalid_argument when
  // server.public_url or webauthn.origins cannot make a relying party (start-up error).
  SecurityKeys(Deps deps, Audit& audit, TwoFactor& twofa, Login& login);

  const factors::webauthn::RelyingParty& relying_party() const { return rp_; }

  // --- WebAuthn ---------------------------------------------------------------
  Result<CreationOptions> registration_options(const SessionView& s);
  // kInvalidArgument "invalid_security_key" (message says why), kAlreadyExists
  // "already_registered".
  Result<NewMethod> register_key(const SessionView& s, const CredentialResponse& cred,
                                 std::string_view label, const Client& client);
  // With a pending session.
  Result<RequestOptions> login_options(const SessionView& pending);
  // Completes a pending sign-in; failures count like wrong codes (Login::record_failure):
  // kUnauthenticated "invalid_security_key".
  Result<SecondStepOutcome> login(const SessionView& pending, const CredentialResponse& cred,
                                  const Client& client);
  // Re-authentication with password + security key (a fully signed-in session): options
  // first, then the answer. Runs Argon2id: call it on the hashing pool.
  Result<RequestOptions> reauth_options(const SessionView& s);
  Result<IssuedSession> reauth(const SessionView& s, std::string_view password,
                               const CredentialResponse& cred, const Client& client);

  // --- Yubico OTP -------------------------------------------------------------
  // Binds the imported key that typed `otp` to the user. kInvalidArgument "invalid_otp" /
  // "unknown_yubikey" / "otp_replayed", kAlreadyExists "already_registered".
  Result<NewMethod> register_yubikey(const store::User& user, std::string_view otp,
                                     std::string_view label, const Client& client);
  // The "yubiotp" code type of TwoFactor::check_code.
  Result<CodeCheck> check_otp(const store::User& user, std::string_view otp,
                              std::optional<int64_t> method_id, const Client& client);
  // `twostep yubikey import`: the personalization tool's CSV; secrets sealed at rest.
  // Returns how many keys were new.
  Result<int> import_yubikeys(std::string_view file_text, bool replace, const Client& client);
  Result<std::vector<YubikeyInfo>> list_yubikeys();
  // `twostep key reseal`: imported YubiKey secrets sealed under an older master key, sealed
  // again under the current one (one conditional write each; the counter is kept).
  Result<ResealCount> reseal_yubikeys();

  void purge_expired();

 private:
  Result<std::string> take_challenge(int64_t session_id, const char* purpose);
  Result<RequestOptions> request_options(const SessionView& s, const char* purpose);
  // Checks an assertion against the challenge of (session, purpose) and the user's keys, and
  // spends the signature counter. kUnauthenticated "invalid_security_key" when refused.
  Result<CodeCheck> check_assertion(const SessionView& s, const char* purpose,
                                    const CredentialResponse& cred, const Client& client);
  Result<std::vector<CredentialDescriptor>> credentials_of(int64_t user_id);
  // The account's WebAuthn user handle: 32 bytes, stored once per account and never derived
  // from the master key, so it stays the same across key rotations (docs/architecture.md).
  Result<std::string> user_handle(int64_t user_id);
  Result<store::Method> create_pending_method(const store::User& user, store::Method m);

  Deps d_;
  Audit& audit_;
  TwoFactor& twofa_;
  Login& login_;
  factors::webauthn::RelyingParty rp_;
  core::Secret legacy_handle_key_;  // "webauthn-user-handle" under the oldest master key
};

}  // namespace twostep::services
