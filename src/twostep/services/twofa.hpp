// Two-step verification: the registry of a user's methods, code checks at sign-in and
// re-authentication (TOTP apps, the authenticator's offline codes, recovery codes), TOTP
// enrolment, recovery-code sets, and managing methods. Every use-once check is a single
// conditional write in the store.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twostep/crypto/pepper.hpp"
#include "twostep/factors/otp.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"

namespace twostep::services {

// Method parameters kept in store::Method::params as "k=v;k=v" text.
std::map<std::string, std::string> parse_params(std::string_view s);
std::string format_params(const std::map<std::string, std::string>& kv);

struct TotpEnrollment {
  int64_t method_id = 0;
  std::string secret_base32;
  std::string otpauth_uri;
  std::string qr_svg;
};

struct CodeCheck {
  int64_t method_id = 0;       // 0 for recovery codes
  std::string method_type;     // "totp", "push", "recovery"
  int recovery_remaining = -1; // set when a recovery code was used
};

// What `twostep key reseal` did: secrets sealed again under the current key, and secrets that
// did not open (their key is missing or they are damaged).
struct ResealCount {
  int resealed = 0;
  int failed = 0;
};

class TwoFactor {
 public:
  TwoFactor(Deps deps, Audit& audit);

  // Confirmed methods, default first, then oldest first.
  Result<std::vector<store::Method>> active_methods(int64_t user_id);
  Result<bool> enabled(int64_t user_id);

  // Checks and consumes a code. type: "totp" (any TOTP-capable method, or `method_id`),
  // "recovery", or a type added with add_code_type. kUnauthenticated "invalid_code" when
  // wrong, replayed or stale; kInvalidArgument for a malformed type. `client` (when known)
  // goes into audit entries the check writes itself (e.g. a cloned key).
  Result<CodeCheck> check_code(const store::User& user, std::string_view type,
                               std::string_view code, std::optional<int64_t> method_id,
                               const Client* client = nullptr);

  // Another code-type factor (yubiotp, ...): check_code(type) dispatches to `checker`, which
  // consumes the code with a single conditional write and answers like check_code.
  using CodeChecker = std::function<Result<CodeCheck>(
      const store::User&, std::string_view code, std::optional<int64_t> method_id, const Client&)>;
  void add_code_type(std::string type, CodeChecker checker);
  // A method type whose first code its own service checks (sms): confirm() dispatches to
  // `checker`, which consumes the code with a single conditional write and answers
  // kInvalidArgument "invalid_code" when it is not right; then the method is activated.
  using FirstCodeChecker = std::function<Status(const store::Method&, std::string_view code)>;
  void add_confirm_type(std::string type, FirstCodeChecker checker);

  // Method types the operator can switch off (sms with sms.gateway = "off"). A type that is
  // off is not offered and not added (its enrolment answers `why`); methods of that type that
  // users already have stay listed and removable, but check_code and confirm refuse them with
  // `why` (a kFailedPrecondition: not a wrong code, counted nowhere). Another type is
  // switched off the same way by the service that owns it.
  void switch_off(std::string type, core::Error why);
  bool available(std::string_view type) const;
  Status check_available(std::string_view type) const;
  // The types a user may add now, in the order the UI offers them (GET /methods/available).
  std::vector<std::string> available_types() const;

  // Turns on a method whose possession was just proven (first code, security key
  // registration): confirms it, voids earlier password-only re-authentications when 2FA was
  // off, audits, and returns a fresh recovery-code set.
  Result<std::vector<std::string>> activate(const store::User& user, const store::Method& m,
                                            const Client& client);

  Result<TotpEnrollment> begin_totp(const store::User& user, std::string_view label);
  // Confirms a pending method with its first code; returns a fresh recovery-code set.
  Result<std::vector<std::string>> confirm(const store::User& user, int64_t method_id,
                                           std::string_view code, const Client& client);
  // A new set of recovery codes (the old set stops working).
  Result<std::vector<std::string>> new_recovery_codes(const store::User& user, const Client& client);
  Result<int> recovery_remaining(int64_t user_id);

  Status rename(const store::User& user, int64_t method_id, std::string_view label,
                const Client& client);
  Status set_default(const store::User& user, int64_t method_id, const Client& client);
  // Removing the last confirmed method turns 2FA off (recovery codes go too).
  Status remove(const store::User& user, int64_t method_id, const Client& client);
  Status disable(const store::User& user, const Client& client, const char* reason);

  // Decrypts a TOTP-capable method's seed.
  Result<core::Secret> method_seed(const store::Method& m);
  std::string seal_seed(int64_t user_id, const std::string& type, const std::string& ref,
                        std::string_view seed) const;

  void purge_unconfirmed();

  // `twostep key reseal`: seals every method secret (TOTP and authenticator seeds, SMS numbers)
  // made under an older master key again under the current one, so that the older key can
  // leave the key file. One conditional write per method (a method changed meanwhile is left
  // as it is). Secrets that do not open are counted as failed and logged (never the bytes).
  Result<ResealCount> reseal_secrets();

 private:
  // nullopt when the keyring lacks `key_id` (logged).
  std::optional<std::string> recovery_hash(uint32_t key_id, int64_t user_id,
                                           std::string_view canonical) const;
  Result<bool> use_recovery_code(int64_t user_id, std::string_view canonical, int64_t now);
  Result<std::optional<int64_t>> match_totp(const store::Method& m, std::string_view code);

  Deps d_;
  Audit& audit_;
  crypto::Pepper recovery_pepper_;  // "recovery-codes" under every master key
  std::map<std::string, CodeChecker, std::less<>> code_types_;
  std::map<std::string, FirstCodeChecker, std::less<>> confirm_types_;
  std::map<std::string, core::Error, std::less<>> off_types_;
};

// Every kind of method, in the order the UI offers them.
inline constexpr std::array<std::string_view, 5> kMethodTypes = {"totp", "push", "webauthn", "sms",
                                                                 "yubiotp"};

// Method types whose secret is a TOTP seed (the authenticator's offline codes included).
bool totp_capable(std::string_view type);
// Label limits: 1..64 bytes, no control characters.
Result<std::string> clean_label(std::string_view label, std::string_view fallback);

}  // namespace twostep::services
