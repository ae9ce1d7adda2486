// The authenticator's accounts: one per enrolment (server + user), each with its Ed25519
// key pair, device id and TOTP seed. Kept in $XDG_CONFIG_HOME/twostep-auth/accounts.json
// (fallback ~/.config), the directory 0700 and the file 0600, replaced atomically.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/error.hpp"
#include "twostep/core/secret.hpp"

namespace twostep::authenticator {

struct Account {
  std::string name;     // local name: "alice@id.example.com" (unique in the file)
  std::string server;   // "https://id.example.com"
  std::string account;  // the username on that server
  std::string issuer;
  std::string device_id;
  core::Secret secret_key;  // Ed25519, 64 raw bytes
  core::Secret totp_seed;   // raw bytes
  int64_t method_id = 0;
  int64_t enrolled_at = 0;
};

class AccountStore {
 public:
  // $XDG_CONFIG_HOME/twostep-auth, or $HOME/.config/twostep-auth.
  static core::Result<std::string> default_dir();
  explicit AccountStore(std::string dir);

  // No file yet is no accounts.
  core::Result<std::vector<Account>> load() const;
  // Creates the directory (0700; an existing one is tightened to 0700) and replaces the file.
  core::Status save(const std::vector<Account>& accounts) const;
  std::string path() const { return dir_ + "/accounts.json"; }

 private:
  std::string dir_;
};

// The account named exactly `query`, else the only one whose name starts with it or whose
// username is it; with an empty query, the only account. Errors name the choices.
core::Result<const Account*> select_account(const std::vector<Account>& all,
                                            std::string_view query);
// "<user>@<host[:port]>", with " #2", " #3"... when taken.
std::string unique_name(const std::vector<Account>& all, std::string_view user,
                        std::string_view server);

}  // namespace twostep::authenticator
