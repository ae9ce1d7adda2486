#include "twostep/services/accounts.hpp"

#include <cmath>
#include <set>

#include <zxcvbn.h>

#include "twostep/services/app_passwords.hpp"
#include "twostep/services/sessions.hpp"

namespace twostep::services {
using core::Code;
using core::fail;

Result<store::User> user_named(store::Store& store, std::string_view name,
                               const core::Error& not_found) {
  auto canonical = canonical_username(name);
  if (!canonical) return tl::unexpected(not_found);
  auto user = store.user_by_name(*canonical);
  if (!user && user.error().code == Code::kNotFound) return tl::unexpected(not_found);
  return user;
}

Result<PasswordCheck> verify_user_password(store::Store& store,
                                           const Result<std::string>& canonical_name,
                                           std::string_view password,
                                           const std::string& reference_hash) {
  PasswordCheck out;
  if (canonical_name) {
    auto u = store.user_by_name(*canonical_name);
    if (u) {
      out.user = std::move(*u);
    } else if (u.error().code != Code::kNotFound) {
      return tl::unexpected(u.error());
    }
  }
  const bool match =
      crypto::verify_password(out.user ? out.user->password_hash : reference_hash, password);
  out.ok = out.user.has_value() && match;
  return out;
}

PasswordVerdict check_password_policy(const core::AccountsConfig& cfg, std::string_view password,
                                      std::string_view username) {
  PasswordVerdict v;
  // Count code points, not bytes, so that non-ASCII passwords are measured fairly.
  size_t chars = 0;
  for (unsigned char c : password) {
    if ((c & 0xC0) != 0x80) ++chars;
  }
  if (chars < static_cast<size_t>(cfg.password_min_length)) {
    v.message = "Use at least " + std::to_string(cfg.password_min_length) + " characters.";
    return v;
  }
  if (chars > static_cast<size_t>(cfg.password_max_length)) {
    v.message = "Use at most " + std::to_string(cfg.password_max_length) + " characters.";
    return v;
  }
  if (password.find('\0') != std::string_view::npos) {
    v.message = "The password contains a NUL character.";
    return v;
  }
  std::string pw(password);
  std::string user(username);
  const char* dict[] = {user.c_str(), "twostep", nullptr};
  ZxcMatch_t* info = nullptr;
  double bits = ZxcvbnMatch(pw.c_str(), dict, &info);
  std::set<std::string> reasons;
  for (ZxcMatch_t* m = info; m; m = m->Next) {
    int type = static_cast<int>(m->Type) & ~MULTIPLE_MATCH;
    switch (type) {
      case DICTIONARY_MATCH:
      case DICT_LEET_MATCH: reasons.insert("a common word or password"); break;
      case USER_MATCH:
      case USER_LEET_MATCH: reasons.insert("your username"); break;
      case REPEATS_MATCH: reasons.insert("repeated characters"); break;
      case SEQUENCE_MATCH: reasons.insert("a sequence like abc or 123"); break;
      case SPATIAL_MATCH: reasons.insert("a keyboard pattern"); break;
      case DATE_MATCH:
      case YEAR_MATCH: reasons.insert("a date or year"); break;
      default: break;
    }
  }
  ZxcvbnFreeInfo(info);
  // zxcvbn's score from guesses = 2^bits: <1e3 -> 0, <1e6 -> 1, <1e8 -> 2, <1e10 -> 3, else 4.
  double log10_guesses = bits * std::log10(2.0);
  v.score = log10_guesses < 3 ? 0 : log10_guesses < 6 ? 1 : log10_guesses < 8 ? 2
                                                        : log10_guesses < 10 ? 3 : 4;
  if (v.score < cfg.password_min_score) {
    std::string why;
    for (const auto& r : reasons) {
      if (!why.empty()) why += ", ";
      why += r;
    }
    v.message = "This password is too easy to guess";
    if (!why.empty()) v.message += " (it contains " + why + ")";
    v.message += ". Add more unusual words or characters; a few random words make a strong password.";
    return v;
  }
  v.ok = true;
  return v;
}

Accounts::Accounts(Deps deps, Audit& audit, Sessions& sessions, AppPasswords& app_passwords)
    : d_(deps), audit_(audit), sessions_(sessions), app_passwords_(app_passwords) {}

crypto::PasswordParams Accounts::password_params() const {
  return crypto::PasswordParams{d_.config.security.argon2_memory_kib,
                                d_.config.security.argon2_iterations};
}

Result<store::User> Accounts::create(std::string_view username, std::string_view password,
                                     const Client& client, const char* via) {
  TS_ASSIGN_OR_RETURN(std::string name, canonical_username(username));
  auto verdict = check_password_policy(d_.config.accounts, password, name);
  if (!verdict.ok) return fail(Code::kInvalidArgument, "weak_password", verdict.message);
  TS_ASSIGN_OR_RETURN(std::string hash, crypto::hash_password(password, password_params()));
  auto user = d_.store.create_user(name, hash, d_.clock.unix_now());
  if (!user) {
    if (user.error().code == Code::kAlreadyExists) {
      return fail(Code::kAlreadyExists, "username_taken", "That username is taken.");
    }
    return user;
  }
  audit_.record(user->id, "account_created", client, {{"via", via}});
  return user;
}

Status Accounts::set_password(std::string_view username, std::string_view password,
                              const Client& client) {
  TS_ASSIGN_OR_RETURN(std::string name, canonical_username(username));
  TS_ASSIGN_OR_RETURN(store::User user, d_.store.user_by_name(name));
  auto verdict = check_password_policy(d_.config.accounts, password, name);
  if (!verdict.ok) return fail(Code::kInvalidArgument, "weak_password", verdict.message);
  TS_ASSIGN_OR_RETURN(std::string hash, crypto::hash_password(password, password_params()));
  TS_RETURN_IF_ERROR(d_.store.set_password_hash(user.id, hash));
  // A new password ends every session: whoever knew the old one is signed out, and a cached
  // protocol sign-in with the old one goes too.
  TS_RETURN_IF_ERROR(sessions_.revoke_all(user.id, 0));
  app_passwords_.user_changed(user.id);
  audit_.record(user.id, "password_changed", client);
  return {};
}

Status Accounts::set_disabled(std::string_view username, bool disabled, const Client& client) {
  TS_ASSIGN_OR_RETURN(std::string name, canonical_username(username));
  TS_ASSIGN_OR_RETURN(store::User user, d_.store.user_by_name(name));
  TS_RETURN_IF_ERROR(d_.store.set_user_disabled(user.id, disabled));
  if (disabled) {
    TS_RETURN_IF_ERROR(sessions_.revoke_all(user.id, 0));
    app_passwords_.user_changed(user.id);
  }
  audit_.record(user.id, disabled ? "account_disabled" : "account_enabled", client);
  return {};
}

Result<std::vector<store::User>> Accounts::list() { return d_.store.list_users(); }

}  // namespace twostep::services
