// Sessions: random 256-bit tokens (only their SHA-256 is stored), lifetimes (browser-session,
// "stay signed in" sliding, idle and absolute caps), listing and revocation, and the
// short-lived cache that lets /api/v1/verify answer without a store round trip.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twostep/core/ttl_cache.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"
#include "twostep/services/events.hpp"

namespace twostep::services {

struct IssuedSession {
  std::string token;  // goes into the cookie; never stored
  store::Session session;
};

// A resolved session plus its user.
struct SessionView {
  store::Session session;
  store::User user;
};

// What /verify needs, cached per token digest.
struct VerifiedUser {
  int64_t session_id = 0;
  int64_t user_id = 0;
  std::string username;
  store::SessionState state = store::SessionState::kFull;
};

class Sessions {
 public:
  Sessions(Deps deps, Audit& audit);

  // What the store keeps of a token: its SHA-256 in hex.
  static std::string hash_token(std::string_view token);
  // The same digest, raw: the /verify cache's key (no hex step on the hot path).
  static crypto::Sha256Digest token_digest(std::string_view token);

  // Creates a session in `state` for the user.
  Result<IssuedSession> create(const store::User& user, store::SessionState state, bool remember,
                               const Client& client);
  // Looks up a token: kUnauthenticated "not_authenticated" when unknown, expired or the user
  // is disabled. Refreshes last_seen/expiry (at most once a minute).
  Result<SessionView> resolve(std::string_view token);
  // Privilege change: new token, new state, auth time = now.
  Result<IssuedSession> upgrade(const store::Session& s, store::SessionState state);

  Result<std::vector<store::Session>> list(int64_t user_id);
  Status revoke(int64_t user_id, int64_t session_id, const Client& client);
  Status logout(const store::Session& s, const Client& client);
  // Ends every other session of the user (password change, 2FA reset).
  Result<int> revoke_all(int64_t user_id, int64_t keep_id);

  // The /verify hot path: answers from the cache when the entry is younger than
  // sessions.verify_cache_ms; nullopt when the store must be asked (call verify_slow).
  std::optional<VerifiedUser> verify_cached(const crypto::Sha256Digest& digest);
  Result<VerifiedUser> verify_slow(const crypto::Sha256Digest& digest);

  // Several instances: every session this instance ends or changes is announced on `bus`
  // (channel kSessionsChannel), and what other instances announce leaves this instance's
  // /verify cache at once — the cache time stays only as the safety net for when the bus is
  // down. A resync event (the bus reconnected, announcements may be lost) empties the cache.
  // Call once, before serving; the bus must outlive this object.
  void attach_events(EventBus& bus);
  static constexpr const char* kSessionsChannel = "sessions";
  // Announces that sessions of the user other than `keep_id` (0 = all) ended or changed state
  // outside this class (organisation enforcement), and drops them from the cache here.
  void user_sessions_changed(int64_t user_id, int64_t keep_id = 0);

  // Seconds the cookie should live: 0 = browser-session cookie.
  int64_t cookie_max_age(const store::Session& s) const;
  void purge_expired();

 private:
  int64_t expiry_for(bool remember, store::SessionState state, int64_t now) const;
  // Drops cache entries here and announces it (when attached to a bus).
  void forget(int64_t session_id);
  // Drops cache entries only: for announcements received.
  void drop_session(int64_t session_id);
  void drop_user(int64_t user_id, int64_t keep_id);
  void drop_all();
  void on_event(const std::string& payload);

  Deps d_;
  Audit& audit_;

  // Entries live sessions.verify_cache_ms, and never past the session's own expiry.
  core::TtlCache<crypto::Sha256Digest, VerifiedUser, crypto::DigestHash> cache_;
  EventBus* bus_ = nullptr;
  std::unique_ptr<EventBus::Subscription> subscription_;
};

// "Firefox on Linux" from a User-Agent string.
std::string describe_device(std::string_view user_agent);

}  // namespace twostep::services
