// The sign-in flow: password step (no user enumeration: unknown users cost the same Argon2id
// time and get the same answer), lockouts per account and per address, the pending second
// step, and re-authentication for sensitive changes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "twostep/crypto/password.hpp"
#include "twostep/services/accounts.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"
#include "twostep/services/orgs.hpp"
#include "twostep/services/sessions.hpp"
#include "twostep/services/throttle.hpp"
#include "twostep/services/twofa.hpp"

namespace twostep::services {

struct LoginOutcome {
  // kEnrollmentRequired: an organisation's deadline for a second factor has passed; the
  // session (state kEnrollmentRequired) opens only what is needed to add a first method.
  enum class Kind { kSignedIn, kSecondFactor, kEnrollmentRequired } kind = Kind::kSignedIn;
  store::User user;
  IssuedSession session;
  std::vector<store::Method> methods;  // kSecondFactor: default first
  // kSignedIn within an organisation's grace period, and kEnrollmentRequired: what requires it.
  std::optional<EnrollmentRequirement> enrollment;
};

struct SecondStepOutcome {
  store::User user;
  IssuedSession session;
  CodeCheck check;
};

class Login {
 public:
  // Without `orgs`, no organisation policy applies (tests of the plain sign-in flow).
  Login(Deps deps, Audit& audit, Sessions& sessions, TwoFactor& twofa, Throttles& throttles,
        Orgs* orgs = nullptr);

  // Runs Argon2id: call it on the hashing pool.
  Result<LoginOutcome> password(std::string_view username, std::string_view password,
                                bool remember, const Client& client);
  // With a pending session: completes sign-in with a code.
  Result<SecondStepOutcome> second_factor(const SessionView& pending, std::string_view type,
                                          std::string_view code, std::optional<int64_t> method_id,
                                          const Client& client);
  // Completes a pending sign-in after a second factor was verified elsewhere (security key,
  // push approval): new full-session token, last sign-in time, audit.
  Result<SecondStepOutcome> complete(const SessionView& pending, const CodeCheck& check,
                                     const Client& client);
  // Records a failed second-factor attempt on a pending sign-in: audit, per-account throttle,
  // per-sign-in count (the pending session ends after the configured maximum). Returns the
  // error to answer with, built from `e`.
  core::Error record_failure(const SessionView& pending, std::string_view type, core::Error e,
                             const Client& client);
  // Checks the per-account second-factor lock.
  Status check_second_factor_lock(int64_t user_id);

  // Password (+ second factor when 2FA is on) again; the session gets a new token and a
  // fresh auth time. Runs Argon2id.
  Result<IssuedSession> reauth(const SessionView& current, std::string_view password,
                               std::string_view type, std::string_view code,
                               const Client& client);
  // The same with the second factor checked by `second_factor` (security keys), which is
  // called only after the password matched and when 2FA is on; a kUnauthenticated answer
  // counts as a failed second factor.
  using FactorCheck = std::function<Result<CodeCheck>()>;
  Result<IssuedSession> reauth(const SessionView& current, std::string_view password,
                               const FactorCheck& second_factor, const Client& client);
  // Signs a brand-new account in (after sign-up).
  Result<IssuedSession> start_session(const store::User& user, bool remember, const Client& client);

  // True when the session's last full authentication is within the re-auth window.
  bool recently_authenticated(const store::Session& s) const;

 private:
  ThrottleRule account_rule() const;
  ThrottleRule ip_rule() const;
  ThrottleRule second_factor_rule() const;
  crypto::PasswordParams params() const;

  Deps d_;
  Audit& audit_;
  Sessions& sessions_;
  TwoFactor& twofa_;
  Throttles& throttles_;
  Orgs* orgs_;
  std::string dummy_hash_;  // verified for unknown users so they cost the same
};

}  // namespace twostep::services
