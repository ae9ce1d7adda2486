#include "twostep/services/login.hpp"

#include "twostep/core/log.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::services {
using core::Code;
using core::fail;
using store::SessionState;

namespace {
core::Error invalid_credentials() {
  return core::Error{Code::kUnauthenticated, "invalid_credentials",
                     "The username or password is not correct.", {}, 0};
}
}  // namespace

Login::Login(Deps deps, Audit& audit, Sessions& sessions, TwoFactor& twofa, Throttles& throttles,
             Orgs* orgs)
    : d_(deps),
      audit_(audit),
      sessions_(sessions),
      twofa_(twofa),
      throttles_(throttles),
      orgs_(orgs) {
  auto h = crypto::hash_password(crypto::random_token(24), params());
  if (!h) throw std::runtime_error("cannot compute the reference password hash");
  dummy_hash_ = *h;
}

crypto::PasswordParams Login::params() const {
  return {d_.config.security.argon2_memory_kib, d_.config.security.argon2_iterations};
}
ThrottleRule Login::account_rule() const {
  const auto& r = d_.config.rate_limit;
  return {r.login_account_max, r.login_account_window_s, r.login_account_lock_s};
}
ThrottleRule Login::ip_rule() const {
  const auto& r = d_.config.rate_limit;
  return {r.login_ip_max, r.login_ip_window_s, r.login_ip_lock_s};
}
ThrottleRule Login::second_factor_rule() const {
  const auto& r = d_.config.rate_limit;
  return {r.second_factor_account_max, r.second_factor_window_s, r.second_factor_lock_s};
}

bool Login::recently_authenticated(const store::Session& s) const {
  return s.state == SessionState::kFull &&
         s.auth_at + d_.config.sessions.reauth_window_s >= d_.clock.unix_now();
}

Result<IssuedSession> Login::start_session(const store::User& user, bool remember,
                                           const Client& client) {
  TS_ASSIGN_OR_RETURN(auto issued, sessions_.create(user, SessionState::kFull, remember, client));
  (void)d_.store.set_last_login(user.id, d_.clock.unix_now());
  return issued;
}

Result<LoginOutcome> Login::password(std::string_view username, std::string_view password,
                                     bool remember, const Client& client) {
  const std::string ip_key = "login:ip:" + client.ip;
  TS_RETURN_IF_ERROR(throttles_.check(ip_key));

  // An impossible username is treated like an unknown one (same cost, same answer).
  auto canonical = canonical_username(username);
  const std::string name = canonical ? *canonical : std::string(username.substr(0, 64));
  const std::string account_key = "login:user:" + name;
  if (auto st = throttles_.check(account_key); !st) {
    d_.metrics.inc("twostep_login_total", "outcome=\"locked\"");
    return tl::unexpected(st.error());
  }

  // Always one Argon2id verification, against the user's hash or a reference hash.
  TS_ASSIGN_OR_RETURN(PasswordCheck check,
                      verify_user_password(d_.store, canonical, password, dummy_hash_));
  std::optional<store::User>& user = check.user;
  const bool ok = check.ok;
  if (!user || !ok) {
    d_.metrics.inc("twostep_login_total", "outcome=\"failed\"");
    int64_t uid = user ? user->id : 0;
    audit_.record(uid, "login_failed", client, {{"username", name}, {"reason", "password"}});
    TS_ASSIGN_OR_RETURN(bool locked_now, throttles_.hit(account_key, account_rule()));
    if (locked_now) {
      audit_.record(uid, "account_locked", client,
                    {{"username", name}, {"seconds", std::to_string(account_rule().lock_s)}});
    }
    TS_ASSIGN_OR_RETURN(bool ip_locked, throttles_.hit(ip_key, ip_rule()));
    if (ip_locked) {
      LOG_WARN("client address locked after repeated sign-in failures ip=" << client.ip);
      audit_.record(0, "address_locked", client, {{"seconds", std::to_string(ip_rule().lock_s)}});
    }
    return tl::unexpected(invalid_credentials());
  }
  if (user->disabled) {
    d_.metrics.inc("twostep_login_total", "outcome=\"disabled\"");
    audit_.record(user->id, "login_failed", client, {{"reason", "disabled"}});
    return fail(Code::kPermissionDenied, "account_disabled",
                "This account is disabled. Contact your administrator.");
  }
  throttles_.clear(account_key);
  if (crypto::password_needs_rehash(user->password_hash, params())) {
    if (auto h = crypto::hash_password(password, params())) {
      if (d_.store.set_password_hash(user->id, *h)) user->password_hash = *h;
    }
  }

  LoginOutcome out;
  out.user = *user;
  TS_ASSIGN_OR_RETURN(out.methods, twofa_.active_methods(user->id));
  if (!out.methods.empty()) {
    out.kind = LoginOutcome::Kind::kSecondFactor;
    TS_ASSIGN_OR_RETURN(out.session,
                        sessions_.create(*user, SessionState::kPendingSecondFactor, remember, client));
    d_.metrics.inc("twostep_login_total", "outcome=\"second_factor\"");
    audit_.record(user->id, "password_accepted", client, {{"next", "second_factor"}});
    return out;
  }
  // No second factor: an organisation may require one.
  if (orgs_ != nullptr) {
    TS_ASSIGN_OR_RETURN(out.enrollment, orgs_->requirement(user->id));
  }
  if (out.enrollment && out.enrollment->deadline <= d_.clock.unix_now()) {
    out.kind = LoginOutcome::Kind::kEnrollmentRequired;
    TS_ASSIGN_OR_RETURN(
        out.session, sessions_.create(*user, SessionState::kEnrollmentRequired, remember, client));
    (void)d_.store.set_last_login(user->id, d_.clock.unix_now());
    d_.metrics.inc("twostep_login_total", "outcome=\"enrollment_required\"");
    audit_.record(
        user->id, "login_succeeded", client,
        {{"factors", "password"}, {"enrollment", "required"}, {"org", out.enrollment->org_name}});
    return out;
  }
  out.kind = LoginOutcome::Kind::kSignedIn;
  TS_ASSIGN_OR_RETURN(out.session, start_session(*user, remember, client));
  d_.metrics.inc("twostep_login_total", "outcome=\"success\"");
  if (out.enrollment) {
    audit_.record(user->id, "login_succeeded", client,
                  {{"factors", "password"},
                   {"enrollment_deadline", std::to_string(out.enrollment->deadline)},
                   {"org", out.enrollment->org_name}});
  } else {
    audit_.record(user->id, "login_succeeded", client, {{"factors", "password"}});
  }
  return out;
}

Status Login::check_second_factor_lock(int64_t user_id) {
  return throttles_.check("2fa:user:" + std::to_string(user_id));
}

core::Error Login::record_failure(const SessionView& pending, std::string_view type, core::Error e,
                                  const Client& client) {
  const std::string key = "2fa:user:" + std::to_string(pending.user.id);
  d_.metrics.inc("twostep_login_total", "outcome=\"second_factor_failed\"");
  audit_.record(pending.user.id, "second_factor_failed", client, {{"type", std::string(type)}});
  auto locked_now = throttles_.hit(key, second_factor_rule());
  if (!locked_now) return locked_now.error();
  if (*locked_now) {
    audit_.record(pending.user.id, "second_factor_locked", client,
                  {{"seconds", std::to_string(second_factor_rule().lock_s)}});
  }
  auto failures = d_.store.add_session_failure(pending.session.id);
  if (!failures) return failures.error();
  const int max = d_.config.rate_limit.second_factor_pending_max;
  if (*failures >= max) {
    (void)sessions_.logout(pending.session, client);
    return core::Error{Code::kUnauthenticated, "not_authenticated",
                       "Too many wrong codes. Sign in again.", {}, 0};
  }
  int left = max - *failures;
  e.message += " " + std::to_string(left) + (left == 1 ? " attempt" : " attempts") + " left.";
  return e;
}

Result<SecondStepOutcome> Login::second_factor(const SessionView& pending, std::string_view type,
                                               std::string_view code,
                                               std::optional<int64_t> method_id,
                                               const Client& client) {
  if (pending.session.state != SessionState::kPendingSecondFactor) {
    return fail(Code::kFailedPrecondition, "conflict", "This sign-in is already complete.");
  }
  TS_RETURN_IF_ERROR(check_second_factor_lock(pending.user.id));
  auto check = twofa_.check_code(pending.user, type, code, method_id, &client);
  if (!check) {
    if (check.error().code != Code::kUnauthenticated) return tl::unexpected(check.error());
    return tl::unexpected(record_failure(pending, type, check.error(), client));
  }
  return complete(pending, *check, client);
}

Result<SecondStepOutcome> Login::complete(const SessionView& pending, const CodeCheck& check,
                                          const Client& client) {
  SecondStepOutcome out;
  out.user = pending.user;
  out.check = check;
  TS_ASSIGN_OR_RETURN(out.session, sessions_.upgrade(pending.session, SessionState::kFull));
  (void)d_.store.set_last_login(pending.user.id, d_.clock.unix_now());
  d_.metrics.inc("twostep_login_total", "outcome=\"success\"");
  std::vector<std::pair<std::string, std::string>> detail = {{"factors", "password+" + check.method_type}};
  if (check.recovery_remaining >= 0) {
    detail.emplace_back("recovery_codes_remaining", std::to_string(check.recovery_remaining));
    audit_.record(pending.user.id, "recovery_code_used", client, detail);
  }
  audit_.record(pending.user.id, "login_succeeded", client, detail);
  return out;
}

Result<IssuedSession> Login::reauth(const SessionView& current, std::string_view password,
                                    std::string_view type, std::string_view code,
                                    const Client& client) {
  return reauth(
      current, password,
      [&]() -> Result<CodeCheck> {
        if (type.empty() || code.empty()) {
          return fail(Code::kInvalidArgument, "invalid_request",
                      "type and code: a second factor is required.");
        }
        return twofa_.check_code(current.user, type, code, std::nullopt, &client);
      },
      client);
}

Result<IssuedSession> Login::reauth(const SessionView& current, std::string_view password,
                                    const FactorCheck& second_factor, const Client& client) {
  const std::string key = "login:user:" + current.user.username;
  TS_RETURN_IF_ERROR(throttles_.check(key));
  if (!crypto::verify_password(current.user.password_hash, password)) {
    audit_.record(current.user.id, "reauth_failed", client, {{"reason", "password"}});
    TS_ASSIGN_OR_RETURN(bool locked_now, throttles_.hit(key, account_rule()));
    if (locked_now) audit_.record(current.user.id, "account_locked", client);
    return fail(Code::kUnauthenticated, "invalid_credentials", "The password is not correct.");
  }
  TS_ASSIGN_OR_RETURN(bool twofa, twofa_.enabled(current.user.id));
  if (twofa) {
    const std::string fkey = "2fa:user:" + std::to_string(current.user.id);
    TS_RETURN_IF_ERROR(throttles_.check(fkey));
    auto check = second_factor();
    if (!check) {
      if (check.error().code == Code::kUnauthenticated) {
        audit_.record(current.user.id, "reauth_failed", client, {{"reason", "second_factor"}});
        (void)throttles_.hit(fkey, second_factor_rule());
      }
      return tl::unexpected(check.error());
    }
  }
  TS_ASSIGN_OR_RETURN(auto issued, sessions_.upgrade(current.session, SessionState::kFull));
  audit_.record(current.user.id, "reauthenticated", client);
  return issued;
}

}  // namespace twostep::services
