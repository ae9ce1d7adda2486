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

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/ttl_cache.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/pepper.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"
#include "twostep/services/events.hpp"
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
  // Takes effect at once on every instance: the /verify caches forget it (see attach_events).
  Status revoke(const store::User& user, int64_t id, const Client& client);
  // Every application password of the user, each as revoke() does (audited one by one,
  // announced on every instance); the number revoked. One revoked meanwhile is not counted.
  Result<int> revoke_all(const store::User& user, const Client& client);

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

  // --- the /verify cache ------------------------------------------------------------------
  // Successful Basic checks, keyed by the SHA-256 of scope and header. An application password's
  // success lives sessions.verify_cache_ms: everything that ends it (revocation, a disabled
  // account) is announced. A main password's lives min(sessions.verify_cache_ms, 1000) ms:
  // some changes that end it are not announced (two-step verification turned on, an
  // organisation's deadline passing), so it is trusted for a second at most.
  static crypto::Sha256Digest cache_key(std::string_view scope, std::string_view authorization);
  std::optional<ProtocolUser> cached(const crypto::Sha256Digest& key);
  // Read before the check whose result is remembered: a revocation in between wins.
  uint64_t cache_generation() const { return cache_.generation(); }
  void remember(const crypto::Sha256Digest& key, const ProtocolUser& user, uint64_t generation);
  void purge_cache();

  // Several instances, as Sessions::attach_events: every revocation here is announced on `bus`
  // (channel kChannel) and every announcement drops this instance's entries at once; a resync
  // (or anything unknown) empties the cache. Call once, before serving; the bus must outlive
  // this object.
  void attach_events(EventBus& bus);
  static constexpr const char* kChannel = "app_passwords";
  // The user's credentials changed outside this class (account disabled, password set): their
  // cached Basic successes, by application password or main password, go here and everywhere.
  void user_changed(int64_t user_id);

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
  // Drops the entries of a revoked password here and announces it.
  void forget(int64_t app_password_id);
  // Drop entries only: for announcements received.
  void drop_password(int64_t app_password_id);
  void drop_user(int64_t user_id);
  void on_event(const std::string& payload);

  Deps d_;
  Audit& audit_;
  Throttles& throttles_;
  TwoFactor& twofa_;
  Orgs* orgs_;
  crypto::Pepper pepper_;  // "app-passwords" under every master key
  std::once_flag dummy_once_;
  std::string dummy_hash_;  // Argon2id of a random password, verified for unknown users

  core::TtlCache<crypto::Sha256Digest, ProtocolUser, crypto::DigestHash> cache_;
  EventBus* bus_ = nullptr;
  std::unique_ptr<EventBus::Subscription> subscription_;
};

}  // namespace twostep::services
