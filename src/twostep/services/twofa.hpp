// Two-step verification: the registry of a user's methods, code checks at sign-in and
// re-authentication (TOTP apps, the authenticator's offline codes, recovery codes), TOTP
// enrolment, recovery-code sets, and managing methods. Every use-once check is a single
// conditional write in the store.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

// What a code-checking factor with its own service answers (SMS, and later others).
enum class CodeVerdict {
  kAccepted,    // right, and now consumed
  kWrong,       // wrong code (an attempt was spent)
  kNoLiveCode,  // nothing to compare with: none sent, expired, used, or out of attempts
};

// A factor whose codes its own service checks; TwoFactor::check_code (sign-in, re-auth) and
// TwoFactor::confirm (enrolment) dispatch to it by method type.
class CodeVerifier {
 public:
  virtual ~CodeVerifier() = default;
  // Checks and consumes `code` for method `m`; `enrolment` for the code that confirms a new
  // method. Must be a use-once check (single conditional write).
  virtual Result<CodeVerdict> verify_code(const store::Method& m, std::string_view code,
                                          bool enrolment) = 0;
};

class TwoFactor {
 public:
  TwoFactor(Deps deps, Audit& audit);

  // Registers the verifier of a method type ("sms"). Call while wiring, before serving.
  void add_verifier(std::string type, CodeVerifier& verifier);

  // Confirmed methods, default first, then oldest first.
  Result<std::vector<store::Method>> active_methods(int64_t user_id);
  Result<bool> enabled(int64_t user_id);

  // Checks and consumes a code. type: "totp" (any TOTP-capable method, or `method_id`),
  // "recovery", or a type with a registered CodeVerifier ("sms"). kUnauthenticated
  // "invalid_code" when wrong, replayed or stale; kInvalidArgument for a malformed type.
  Result<CodeCheck> check_code(const store::User& user, std::string_view type,
                               std::string_view code, std::optional<int64_t> method_id);

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

 private:
  std::string recovery_hash(int64_t user_id, std::string_view canonical) const;
  Result<std::optional<int64_t>> match_totp(const store::Method& m, std::string_view code);
  CodeVerifier* verifier(std::string_view type) const;
  // A method's first code was right: confirm it, start 2FA if it was off, new recovery codes.
  Result<std::vector<std::string>> finish_confirm(const store::User& user, const store::Method& m,
                                                  int64_t now, const Client& client);
  Result<CodeCheck> check_with_verifier(CodeVerifier& v, const store::User& user,
                                        std::string_view type, std::string_view code,
                                        std::optional<int64_t> method_id);

  Deps d_;
  Audit& audit_;
  std::string recovery_key_;
  std::map<std::string, CodeVerifier*, std::less<>> verifiers_;
};

// Method types whose secret is a TOTP seed (the authenticator's offline codes included).
bool totp_capable(std::string_view type);
// Label limits: 1..64 bytes, no control characters.
Result<std::string> clean_label(std::string_view label, std::string_view fallback);

}  // namespace twostep::services
