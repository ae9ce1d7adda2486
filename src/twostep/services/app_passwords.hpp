// Application passwords and protocol sign-in. Mail, calendar and file-sync clients cannot
// answer a second factor; they use an application password (`abcd-efgh-ijkl-mnop-qrst-uvwx`:
// 24 characters from a 32-character alphabet; the first group is a non-secret per-user lookup
// id, the other five carry 100 random bits), and the servers they talk to (Dovecot through
// twostep-checkpassword, nginx auth_request through /api/v1/verify) ask twostep here.
//
// Checking an application password is one indexed read plus one keyed hash, so it runs on the
// db pool; checking a main password costs Argon2id and runs on the hash pool. Hence two steps:
// check_app_password answers nullopt for "not an application password" and the caller then
// runs check_main_password. Both are rate limited per account and per address (store
// throttles, so across instances) and audit their failures.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "twostep/crypto/pepper.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"
#include "twostep/services/throttle.hpp"
#include "twostep/services/twofa.hpp"

namespace twostep::services {

inline constexpr int kMaxAppPasswords = 50;

// Who a protocol check signed in.
struct ProtocolUser {
  int64_t user_id = 0;
  std::string username;
  int64_t app_password_id = 0;  // 0: the main password was accepted
};

struct CreatedAppPassword {
  store::AppPassword record;
  std::string password;  // shown once, never stored
};

// Parsed form of an application password as typed: separators ('-', spaces) dropped, upper
// case folded. nullopt unless it is exactly 24 characters of the alphabet.
struct AppPasswordParts {
  std::string lookup;  // 4 characters
  std::string secret;  // 20 characters
};
std::optional<AppPasswordParts> parse_app_password(std::string_view typed);

// The scope a service needs: "mail" for imap, pop3, smtp, submission, sieve, mail; "dav" for
// dav, webdav, caldav, carddav; "all" for all. kInvalidArgument naming `field` otherwise.
Result<std::string> scope_for_service(std::string_view service, std::string_view field);
// Checks and orders a list of scopes ("mail", "dav", "all"): "all" wins, duplicates go.
Result<std::string> normalize_scopes(const std::vector<std::string>& scopes);
std::vector<std::string> split_scopes(std::string_view scopes);
// Whether a password with `scopes` may be used where `needed` is required.
bool scope_allows(std::string_view scopes, std::string_view needed);

class Orgs;

class AppPasswords {
 public:
  // `orgs` (optional): an organisation that requires two-step verification, past its
  // deadline, refuses the main password for protocols like 2FA itself does.
  AppPasswords(Deps deps, Audit& audit, Throttles& throttles, TwoFactor& twofa,
               Orgs* orgs = nullptr);

  // --- managing ----------------------------------------------------------------------------
  // name: 1..64 characters, no control characters. At most kMaxAppPasswords per user.
  Result<CreatedAppPassword> create(const store::User& user, std::string_view name,
                                    const std::vector<std::string>& scopes, const Client& client);
  Result<std::vector<store::AppPassword>> list(int64_t user_id);
  // Takes effect at once on this instance (the /verify cache forgets it), and on every
  // instance within the cache lifetime (at most 1 s).
  Status revoke(const store::User& user, int64_t id, const Client& client);

  // --- protocol checks ---------------------------------------------------------------------
  // Cheap (db pool). The user's application password with the right scope: the user; wrong
  // scope: kPermissionDenied "app_password_scope"; not an application password of this user:
  // nullopt (continue with check_main_password); locked: kResourceExhausted "locked".
  Result<std::optional<ProtocolUser>> check_app_password(std::string_view username,
                                                         std::string_view password,
                                                         std::string_view scope,
                                                         const Client& client);
  // Argon2id (hash pool). The main password is accepted for protocols only when two-step
  // verification is off, no organisation requires it by now, and
  // accounts.protocol_main_password allows it; otherwise, after a
  // correct password, kUnauthenticated "app_password_required" with a message that says how to
  // create one. Wrong password or unknown user: kUnauthenticated "invalid_credentials" (same
  // cost and answer).
  Result<ProtocolUser> check_main_password(std::string_view username, std::string_view password,
                                           std::string_view scope, const Client& client);

  // The /verify cache of successful Basic checks, keyed by a hash of scope and header; entries
  // live at most min(sessions.verify_cache_ms, 1000) ms and go at once on revoke.
  std::optional<ProtocolUser> cached(const std::string& key);
  void remember(const std::string& key, const ProtocolUser& user);
  void purge_cache();

 private:
  struct Throttled {
    std::string account_key;
    std::string ip_key;
  };
  Result<Throttled> check_throttles(std::string_view canonical_name, const Client& client);
  // Audits a failed guess and counts it against the account and the address.
  core::Error record_failure(int64_t user_id, const Throttled& keys, std::string_view name,
                             std::string_view scope, const Client& client);
  std::string hash_for(uint32_t key_id, int64_t user_id, const AppPasswordParts& parts) const;
  void note_use(const store::User& user, const store::AppPassword& p, std::string_view scope,
                const Client& client);
  const std::string& dummy_hash();
  void forget(int64_t app_password_id);

  Deps d_;
  Audit& audit_;
  Throttles& throttles_;
  TwoFactor& twofa_;
  Orgs* orgs_;
  crypto::Pepper pepper_;  // "app-passwords" under every master key
  std::once_flag dummy_once_;
  std::string dummy_hash_;  // Argon2id of a random password, verified for unknown users

  struct CacheEntry {
    ProtocolUser user;
    std::chrono::steady_clock::time_point cached_at;
  };
  static constexpr int kShards = 16;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, CacheEntry> map;
  };
  Shard shards_[kShards];
  Shard& shard(const std::string& key);
  std::chrono::milliseconds cache_ttl() const;
};

}  // namespace twostep::services
