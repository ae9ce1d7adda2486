// Accounts: username and password rules, creation (sign-up and CLI), password changes,
// disabling. Password hashing happens here, so these calls belong on the hashing pool.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "twostep/core/text.hpp"
#include "twostep/crypto/password.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"

namespace twostep::services {

using core::canonical_username;  // core/text.hpp: the config's [admin] users need it too

struct PasswordVerdict {
  bool ok = false;
  int score = 0;        // zxcvbn-style 0..4
  std::string message;  // why it was refused, for people
};
// Length (min..max from config) and zxcvbn strength (score >= min score); the username and
// the product name count as known words.
PasswordVerdict check_password_policy(const core::AccountsConfig& cfg, std::string_view password,
                                      std::string_view username);

// One Argon2id verification whatever the name: the user (when the name is possible and exists)
// and whether the password is theirs. `reference_hash` is verified for unknown or impossible
// names, so that answer and time do not tell them apart (sign-in, protocol checks).
struct PasswordCheck {
  std::optional<store::User> user;  // nullopt: no such user
  bool ok = false;                  // the user exists and the password is theirs
};
// The account a typed username names: `not_found` when the name is impossible or no account has
// it (the caller's wording), any other store error as it is.
Result<store::User> user_named(store::Store& store, std::string_view name,
                               const core::Error& not_found);

Result<PasswordCheck> verify_user_password(store::Store& store,
                                           const Result<std::string>& canonical_name,
                                           std::string_view password,
                                           const std::string& reference_hash);

class Sessions;
class AppPasswords;

class Accounts {
 public:
  // `sessions` and `app_passwords` end what a password change or a disabled account must end,
  // announced to every instance's /verify caches.
  Accounts(Deps deps, Audit& audit, Sessions& sessions, AppPasswords& app_passwords);

  // Validates, hashes and stores. kAlreadyExists "username_taken".
  Result<store::User> create(std::string_view username, std::string_view password,
                             const Client& client, const char* via);
  // Ends every session of the user and drops their cached protocol sign-ins everywhere.
  Status set_password(std::string_view username, std::string_view password, const Client& client);
  // Disabling ends every session and drops cached protocol sign-ins everywhere, as above.
  Status set_disabled(std::string_view username, bool disabled, const Client& client);
  Result<std::vector<store::User>> list();

  crypto::PasswordParams password_params() const;

 private:
  Deps d_;
  Audit& audit_;
  Sessions& sessions_;
  AppPasswords& app_passwords_;
};

}  // namespace twostep::services
