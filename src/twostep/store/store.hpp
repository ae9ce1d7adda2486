// The store: one abstract interface of domain verbs (never SQL at the call site) with one
// backend per database. Services depend only on this header. Every "use once" verb is a
// single conditional write so that concurrent attempts can never both succeed.
//
// Times are whole Unix seconds (int64). Ids are int64 row ids; every per-user verb takes
// the user id so that one user can never reach another's rows. Missing rows are
// Code::kNotFound, uniqueness violations Code::kAlreadyExists, a database that cannot be
// reached Code::kUnavailable.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twostep/core/error.hpp"
#include "twostep/store/push.hpp"

namespace twostep::store {

using core::Result;
using core::Status;

struct User {
  int64_t id = 0;
  std::string username;       // canonical lower-case form
  std::string password_hash;  // Argon2id encoded string
  bool disabled = false;
  int64_t created_at = 0;
  int64_t last_login_at = 0;  // 0 = never
};

enum class SessionState : int {
  kFull = 0,            // fully signed in
  kPendingSecondFactor = 1,  // password ok, second factor still needed
  kEnrollmentRequired = 2,   // org policy: may only add a first method
};

struct Session {
  int64_t id = 0;
  std::string token_hash;  // SHA-256 of the cookie token (hex); the token itself is never stored
  int64_t user_id = 0;
  SessionState state = SessionState::kFull;
  bool remember = false;
  int64_t created_at = 0;
  int64_t last_seen_at = 0;
  int64_t expires_at = 0;   // idle/sliding expiry; refreshed by touch_session
  int64_t absolute_expires_at = 0;
  int64_t auth_at = 0;      // last full authentication (password + second factor): re-auth window
  int failed_attempts = 0;  // wrong second-factor codes in this pending sign-in
  std::string ip;
  std::string user_agent;
};

struct AuditEvent {
  int64_t id = 0;
  int64_t user_id = 0;  // 0 = no user (e.g. unknown username)
  int64_t at = 0;
  std::string event;    // snake_case: login_succeeded, login_failed, account_locked, ...
  std::string ip;
  std::string user_agent;
  std::string detail;   // JSON object text, never secrets
  // Filled by site_audit only: the user's current username ("" for user 0 and for a user id
  // that names no account).
  std::string username;
};

// What Store::site_audit reads: every filter is optional.
struct AuditFilter {
  std::optional<int64_t> user_id;  // only this user's entries (0: those of no user)
  std::string event;               // only this event (exact); "" = every event
  int64_t since = 0;               // only entries at or after this time; 0 = from the start
  int limit = 100;                 // the newest `limit` entries, 1..kMaxAuditPage
};
inline constexpr int kMaxAuditPage = 1000;

// A counter with a fixed window and a lock, for rate limits and lockouts.
struct Throttle {
  std::string key;
  int64_t window_start = 0;
  int count = 0;
  int64_t locked_until = 0;  // 0 = not locked
};

// A registered second-factor method (totp, push, webauthn, yubiotp, sms).
struct Method {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string type;    // "totp", "push", "webauthn", "yubiotp", "sms"
  std::string label;
  std::string secret;  // encrypted at rest by the caller (crypto/aead); opaque bytes here
  std::string params;  // JSON text: algorithm, digits, period, credential data, ...
  std::string lookup;  // indexed lookup value (webauthn credential id, yubikey public id); may be empty
  bool confirmed = false;
  bool is_default = false;
  int64_t created_at = 0;
  int64_t last_used_at = 0;
  int64_t last_step = -1;  // TOTP: last accepted time step; counters for other types
};

// --- organisations ----------------------------------------------------------------------
enum class OrgRole : int { kMember = 0, kAdmin = 1, kOwner = 2 };  // ordered by power

inline const char* org_role_name(OrgRole r) {
  switch (r) {
    case OrgRole::kOwner:
      return "owner";
    case OrgRole::kAdmin:
      return "admin";
    case OrgRole::kMember:
      break;
  }
  return "member";
}
inline std::optional<OrgRole> parse_org_role(std::string_view s) {
  if (s == "owner") return OrgRole::kOwner;
  if (s == "admin") return OrgRole::kAdmin;
  if (s == "member") return OrgRole::kMember;
  return std::nullopt;
}

struct Org {
  int64_t id = 0;
  std::string name;
  int64_t created_at = 0;
  bool require_2fa = false;
  int grace_days = 0;
  int64_t policy_since = 0;  // when require_2fa last went on; 0 while off
};

// One organisation of a user, with the user's role in it.
struct OrgMembership {
  Org org;
  OrgRole role = OrgRole::kMember;
  int64_t added_at = 0;
};

// One member of an organisation, with what its admins may see of the account.
struct OrgMember {
  int64_t org_id = 0;
  int64_t user_id = 0;
  std::string username;
  OrgRole role = OrgRole::kMember;
  int64_t added_at = 0;
  int64_t last_login_at = 0;
  std::vector<std::string> method_types;  // confirmed methods, sorted, no repeats
};

struct OrgAuditEvent {
  int64_t id = 0;
  int64_t org_id = 0;
  int64_t at = 0;
  int64_t actor_id = 0;    // 0 = the server operator (CLI)
  int64_t subject_id = 0;  // the member acted on; 0 = none
  std::string event;       // snake_case: org_created, member_added, policy_changed, ...
  std::string ip;
  std::string user_agent;
  std::string detail;  // JSON object text, never secrets
  // Filled when reading: current usernames of actor and subject ("" when none).
  std::string actor_name;
  std::string subject_name;
};

// A Yubico OTP key imported from a personalization tool's export.
struct YubikeyRecord {
  std::string public_id;      // lower-case modhex
  std::string secret;         // private id + AES key, sealed by the caller; opaque bytes here
  int64_t last_counter = -1;  // highest accepted (session counter << 8 | use); -1 = never used
  int64_t imported_at = 0;
  int64_t last_used_at = 0;
};

// --- SMS codes (issue 6) -------------------------------------------------------
// One code sent by SMS. Only keyed hashes of the code and of the number are kept.
struct SmsCode {
  int64_t id = 0;
  int64_t user_id = 0;
  int64_t method_id = 0;    // the sms method (no foreign key: cool-downs outlive a method)
  std::string purpose;      // "enroll" (confirms a new method) or "auth" (sign-in, re-auth)
  std::string number_hash;  // keyed hash of the E.164 number: the cool-down key
  std::string code_hash;    // keyed hash of the code
  uint32_t key_id = 0;      // the master key of code_hash's pepper (0: before migration 0007)
  int64_t created_at = 0;
  int64_t expires_at = 0;
  bool sent = false;  // false while the gateway call runs: not yet checkable
  int attempts = 0;
  int64_t used_at = 0;  // 0 = unused
};

// A daily cap that one more SMS must fit in: counts per (key, UTC day).
struct SmsQuota {
  std::string key;  // "sms:user:<id>", "sms:number:<hash>", "sms:ip:<addr>", "sms:region:CH"
  int limit = 0;
};

// The answer of Store::sms_reserve: a code id, or why not.
struct SmsReservation {
  int64_t code_id = 0;        // > 0: reserved (counted and inserted, not yet sent)
  int64_t retry_after_s = 0;  // > 0: a code for the same user and number is too recent
  std::string over_quota;     // non-empty: the key of the quota that is full
};

// An application password for protocol clients (IMAP, WebDAV). Only a keyed hash is stored.
struct AppPassword {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string name;
  std::string scopes;   // comma-separated: "mail", "dav", "mail,dav" or "all"
  std::string lookup;   // the non-secret first group of the password; unique per user
  std::string hash;     // keyed hash (hex) of "user_id:lookup:secret"
  uint32_t key_id = 0;  // the master key the hash pepper was derived from
  int64_t created_at = 0;
  int64_t last_used_at = 0;  // 0 = never
  std::string last_used_ip;
};

// How many stored values still need one master key (Store::key_usage).
struct KeyUse {
  uint32_t key_id = 0;  // 0: keyed hashes written before key ids were recorded, not yet pinned
  std::string what;     // "sealed_secrets", "recovery_codes", "app_passwords", "sms_codes"
  int64_t count = 0;
};

// One running `twostep serve` process (Store::put_instance), for `twostep instances` and the
// check of `twostep key use`.
struct Instance {
  std::string id;  // random, new at every process start
  std::string host;
  int64_t pid = 0;
  std::string version;
  std::string listen;              // the address it accepts connections on
  std::string key_ids;             // the master key ids it loaded, ascending: "1,2,3"
  int64_t current_key_id = 0;      // the key it writes under
  int64_t heartbeat_s = 0;         // it refreshes seen_at this often
  int64_t started_at = 0;
  int64_t seen_at = 0;

  // Live while seen within 3 heartbeats; a stale row is an instance that was killed or lost
  // the database.
  static constexpr int64_t kStaleHeartbeats = 3;
  bool live(int64_t now) const { return now - seen_at <= kStaleHeartbeats * heartbeat_s; }
  // The ids of key_ids, in order.
  std::vector<std::string> key_list() const {
    std::vector<std::string> out;
    for (size_t start = 0; start < key_ids.size();) {
      size_t end = std::min(key_ids.find(',', start), key_ids.size());
      out.push_back(key_ids.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  bool has_key(uint32_t key_id) const {
    for (const auto& id : key_list()) {
      if (id == std::to_string(key_id)) return true;
    }
    return false;
  }
};

// One user's values that depended on a retired master key (Store::delete_recovery_codes_of_key).
struct KeyDependents {
  int64_t user_id = 0;
  int count = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies pending migrations; returns the schema version afterwards.
  virtual Result<int> migrate() = 0;

  // --- users -----------------------------------------------------------------
  // kAlreadyExists when the (lower-case) username is taken.
  virtual Result<User> create_user(const std::string& username, const std::string& password_hash,
                                   int64_t now) = 0;
  virtual Result<User> user_by_name(const std::string& username) = 0;
  virtual Result<User> user_by_id(int64_t id) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  virtual Status set_password_hash(int64_t user_id, const std::string& password_hash) = 0;
  virtual Status set_user_disabled(int64_t user_id, bool disabled) = 0;
  virtual Status set_last_login(int64_t user_id, int64_t at) = 0;
  // The user's WebAuthn user handle: stores `candidate` if the user has none yet (one
  // conditional write, so concurrent first registrations agree) and returns the stored one.
  // kNotFound for an unknown user.
  virtual Result<std::string> webauthn_user_handle(int64_t user_id,
                                                   const std::string& candidate) = 0;

  // --- master keys -----------------------------------------------------------
  // Gives keyed hashes written before key ids were recorded (key_id 0) the id of the key that
  // made them, `key_id`, in one transaction; returns how many rows changed.
  virtual Result<int64_t> pin_legacy_key_ids(uint32_t key_id) = 0;
  // What still depends on each key: sealed secrets (methods, imported YubiKeys; the id is in
  // the blob), unused recovery codes, application passwords, live SMS codes (unused and
  // unexpired at `now`). By what, then key id; kinds with nothing are left out.
  virtual Result<std::vector<KeyUse>> key_usage(int64_t now) = 0;
  // `twostep key retire --revoke-dependents`, for what cannot be made again under another key
  // without its plaintext. Deletes every recovery code made under `key_id`, used or not, in
  // one statement; returns for each user who lost unused ones (ascending) how many.
  virtual Result<std::vector<KeyDependents>> delete_recovery_codes_of_key(uint32_t key_id) = 0;
  // The application passwords hashed under `key_id`, by id (revoked one by one through the
  // service, which tells every instance).
  virtual Result<std::vector<AppPassword>> app_passwords_of_key(uint32_t key_id) = 0;
  // Deletes the SMS codes made under `key_id` that are unused and unexpired at `now` (spent
  // ones stay: they still count for the resend cool-down); how many.
  virtual Result<int> delete_live_sms_codes_of_key(uint32_t key_id, int64_t now) = 0;
  // `twostep key reseal`: methods whose secret is a sealed blob of another key than `key_id`
  // (by id), and the conditional writes that replace a sealed secret only if it is still
  // `old_secret` (true when this call won; false when it changed or went meanwhile).
  virtual Result<std::vector<Method>> methods_sealed_with_other_keys(uint32_t key_id) = 0;
  virtual Result<bool> reseal_method_secret(int64_t method_id, const std::string& old_secret,
                                            const std::string& new_secret) = 0;
  virtual Result<bool> reseal_yubikey_secret(const std::string& public_id,
                                             const std::string& old_secret,
                                             const std::string& new_secret) = 0;
  // `twostep key retire OLDEST --rekey-sms-numbers`: every method of `type`, confirmed or not,
  // of every user (by id), and the conditional write that replaces a method's params only if
  // they are still `old_params` (true when this call won; false when they changed or the
  // method went meanwhile).
  virtual Result<std::vector<Method>> methods_of_type(const std::string& type) = 0;
  virtual Result<bool> rekey_method_params(int64_t method_id, const std::string& old_params,
                                           const std::string& new_params) = 0;

  // --- sessions --------------------------------------------------------------
  // `s.id` is ignored; the returned session carries the new id. kAlreadyExists on a token
  // hash collision.
  virtual Result<Session> create_session(const Session& s) = 0;
  virtual Result<Session> session_by_token_hash(const std::string& token_hash) = 0;
  virtual Result<Session> session_by_id(int64_t id) = 0;
  virtual Result<std::vector<Session>> sessions_of_user(int64_t user_id) = 0;
  // Records activity: last_seen_at = now, expires_at = new_expires_at.
  virtual Status touch_session(int64_t id, int64_t now, int64_t new_expires_at) = 0;
  // Privilege change: replaces the token hash (old token stops working) and sets state,
  // auth_at and expires_at in one write. kNotFound if the session is gone.
  virtual Status upgrade_session(int64_t id, const std::string& new_token_hash,
                                 SessionState state, int64_t auth_at, int64_t expires_at) = 0;
  // Adds one to failed_attempts and returns the new count (single conditional write).
  virtual Result<int> add_session_failure(int64_t id) = 0;
  virtual Status delete_session(int64_t id) = 0;
  // Deletes the session only if it belongs to user_id; kNotFound otherwise.
  virtual Status delete_user_session(int64_t user_id, int64_t id) = 0;
  // Deletes every session of the user except `keep_id` (0 = none); returns how many.
  virtual Result<int> delete_sessions_of_user(int64_t user_id, int64_t keep_id) = 0;
  virtual Result<int> delete_expired_sessions(int64_t now) = 0;
  // Sets auth_at = 0 on every session of the user: none of them counts as a recent
  // re-authentication any more (two-step verification was just turned on, so a
  // password-only sign-in is no longer enough). Returns how many sessions.
  virtual Result<int> clear_auth_times(int64_t user_id) = 0;

  // --- audit -----------------------------------------------------------------
  virtual Status append_audit(const AuditEvent& e) = 0;
  // Newest first.
  virtual Result<std::vector<AuditEvent>> audit_of_user(int64_t user_id, int limit) = 0;
  // The site-wide log (every user's entries and those of no user), newest first, with each
  // entry's username; a limit outside 1..kMaxAuditPage is kInvalidArgument.
  virtual Result<std::vector<AuditEvent>> site_audit(const AuditFilter& filter) = 0;

  // --- throttles (rate limits, lockouts) -------------------------------------
  // Reads the throttle; a missing key is a zero Throttle (not an error).
  virtual Result<Throttle> throttle_get(const std::string& key) = 0;
  // Atomically records one event: if the window (window_s) has passed since window_start,
  // the window restarts at `now` with count 1; otherwise count + 1. When count reaches
  // `max`, locked_until = now + lock_s. Returns the state after the write.
  virtual Result<Throttle> throttle_hit(const std::string& key, int64_t now, int window_s,
                                        int max, int lock_s) = 0;
  virtual Status throttle_clear(const std::string& key) = 0;

  // --- second-factor methods -------------------------------------------------
  // `m.id` is ignored; returns the stored method with its id. kAlreadyExists when a
  // non-empty `lookup` is already used by another method of the same type.
  virtual Result<Method> create_method(const Method& m) = 0;
  virtual Result<std::vector<Method>> methods_of_user(int64_t user_id) = 0;
  virtual Result<Method> method_of_user(int64_t user_id, int64_t method_id) = 0;
  // Finds a confirmed or unconfirmed method by (type, lookup).
  virtual Result<Method> method_by_lookup(const std::string& type, const std::string& lookup) = 0;
  // Marks confirmed; when the user had no other confirmed method it becomes the default.
  virtual Status confirm_method(int64_t user_id, int64_t method_id, int64_t now) = 0;
  virtual Status rename_method(int64_t user_id, int64_t method_id, const std::string& label) = 0;
  // Exactly one default per user (confirmed methods only); kNotFound if not the user's.
  virtual Status set_default_method(int64_t user_id, int64_t method_id) = 0;
  // Deletes one method; if it was the default, another confirmed method (oldest) becomes
  // the default. kNotFound if not the user's.
  virtual Status delete_method(int64_t user_id, int64_t method_id) = 0;
  // Deletes every method and every recovery code of the user; returns how many methods.
  virtual Result<int> delete_all_methods(int64_t user_id) = 0;
  virtual Result<int> delete_unconfirmed_methods(int64_t created_before) = 0;
  virtual Status update_method_params(int64_t user_id, int64_t method_id,
                                      const std::string& params) = 0;
  // Use-once step/counter: sets last_step = step and last_used_at = now only if
  // step > last_step. Returns true when this call won, false when the step (or a later one)
  // was already used.
  virtual Result<bool> advance_method_step(int64_t method_id, int64_t step, int64_t now) = 0;
  virtual Status touch_method(int64_t method_id, int64_t now) = 0;

  // --- recovery codes --------------------------------------------------------
  // Replaces the user's whole set in one transaction (the old set stops working). `key_id`
  // is the master key whose pepper made the hashes.
  virtual Status replace_recovery_codes(int64_t user_id, const std::vector<std::string>& hashes,
                                        uint32_t key_id, int64_t now) = 0;
  // The distinct key ids of the user's unused codes, ascending (empty when none are left).
  virtual Result<std::vector<uint32_t>> recovery_code_key_ids(int64_t user_id) = 0;
  // Marks the code used if it is the user's, made under `key_id` and unused: true when this
  // call won.
  virtual Result<bool> use_recovery_code(int64_t user_id, uint32_t key_id,
                                         const std::string& hash, int64_t now) = 0;
  virtual Result<int> remaining_recovery_codes(int64_t user_id) = 0;

  // --- organisations -----------------------------------------------------------
  // Creates the organisation and makes `owner_id` its owner, in one transaction.
  // kAlreadyExists "org_name_taken" when the name is taken (case-insensitively); kNotFound
  // when the owner does not exist.
  virtual Result<Org> create_org(const std::string& name, int64_t owner_id, int64_t now) = 0;
  virtual Result<Org> org_by_id(int64_t id) = 0;
  virtual Result<Org> org_by_name(const std::string& name) = 0;  // case-insensitive
  virtual Result<std::vector<Org>> list_orgs() = 0;              // by id
  // The user's organisations, by organisation id.
  virtual Result<std::vector<OrgMembership>> orgs_of_user(int64_t user_id) = 0;
  // Members by username (empty for an unknown organisation). org_member: kNotFound when the
  // user is not a member.
  virtual Result<std::vector<OrgMember>> org_members(int64_t org_id) = 0;
  virtual Result<OrgMember> org_member(int64_t org_id, int64_t user_id) = 0;
  // kAlreadyExists "already_member"; kNotFound when the org or the user does not exist.
  virtual Status add_org_member(int64_t org_id, int64_t user_id, OrgRole role, int64_t now) = 0;
  // Role change and removal never leave an organisation without an owner, also when two run
  // at once (single conditional writes): kFailedPrecondition "last_owner" when the member is
  // its only owner; kNotFound when not a member.
  virtual Status set_org_member_role(int64_t org_id, int64_t user_id, OrgRole role) = 0;
  virtual Status remove_org_member(int64_t org_id, int64_t user_id) = 0;
  // Sets the policy; policy_since becomes `now` when require_2fa goes from off to on, stays
  // while it stays on, and is 0 when off. Returns the organisation after the write.
  virtual Result<Org> set_org_policy(int64_t org_id, bool require_2fa, int grace_days,
                                     int64_t now) = 0;
  virtual Status append_org_audit(const OrgAuditEvent& e) = 0;
  // Newest first, with actor_name and subject_name filled in.
  virtual Result<std::vector<OrgAuditEvent>> org_audit(int64_t org_id, int limit) = 0;
  // Enrolment enforcement, both only while the user has no confirmed method (checked in the
  // same write, so a method confirmed meanwhile wins). Restrict: every fully signed-in session
  // of the user becomes kEnrollmentRequired. Lift: every kEnrollmentRequired session becomes
  // kFull. Both return how many sessions changed.
  virtual Result<int> restrict_sessions_without_2fa(int64_t user_id) = 0;
  virtual Result<int> lift_restricted_sessions(int64_t user_id) = 0;

  // --- security keys: Yubico OTP keys and WebAuthn challenges ---------------
  // (WebAuthn credentials and YubiKey bindings are methods; the WebAuthn signature counter
  // uses advance_method_step.)
  // Adds imported keys in one transaction. Without `replace`, a public id that is already
  // known is kAlreadyExists and nothing is written; with it, the key's secret is replaced and
  // its counter reset (the key was reprogrammed). Returns how many keys were new.
  virtual Result<int> import_yubikeys(const std::vector<YubikeyRecord>& keys, bool replace,
                                      int64_t now) = 0;
  virtual Result<YubikeyRecord> yubikey_by_public_id(const std::string& public_id) = 0;
  // Ordered by public id.
  virtual Result<std::vector<YubikeyRecord>> list_yubikeys() = 0;
  // Use-once: sets last_counter = counter and last_used_at = now only if counter >
  // last_counter. true when this call won; kNotFound for an unknown key.
  virtual Result<bool> advance_yubikey_counter(const std::string& public_id, int64_t counter,
                                               int64_t now) = 0;
  // Stores a challenge for (session, purpose), replacing an earlier one. kNotFound when the
  // session is gone.
  virtual Status put_webauthn_challenge(int64_t session_id, const std::string& purpose,
                                        const std::string& challenge, int64_t expires_at) = 0;
  // Takes the challenge in one write (deleted whether or not it has expired): returns it when
  // it had not expired at `now`, kNotFound otherwise. Two concurrent takes: one wins.
  virtual Result<std::string> take_webauthn_challenge(int64_t session_id,
                                                      const std::string& purpose, int64_t now) = 0;
  virtual Result<int> delete_expired_webauthn_challenges(int64_t now) = 0;

  // --- SMS codes (issue 6) ---------------------------------------------------
  // Reserves one SMS in one transaction, before the gateway is called: refused with
  // retry_after_s while the newest code of the same user, number_hash and purpose is younger
  // than cooldown_s (at code.created_at), or with over_quota when any quota of `day` is full;
  // otherwise adds one to every quota and inserts `code` (unsent). `code.id`, `sent`,
  // `attempts` and `used_at` are ignored.
  virtual Result<SmsReservation> sms_reserve(const SmsCode& code, int cooldown_s, int64_t day,
                                             const std::vector<SmsQuota>& quotas) = 0;
  // The gateway accepted the message: from now on the code can be checked.
  virtual Status sms_mark_sent(int64_t code_id) = 0;
  // The gateway refused or failed: deletes the code and takes its count back from each of
  // `quota_keys` of `day`, so that nothing counts as sent.
  virtual Status sms_cancel(int64_t code_id, int64_t day,
                            const std::vector<std::string>& quota_keys) = 0;
  // The user's newest sent code for `purpose` (of `method_id`, or of any method when 0);
  // kNotFound when there is none. Older codes are superseded by it.
  virtual Result<SmsCode> sms_latest_code(int64_t user_id, int64_t method_id,
                                          const std::string& purpose) = 0;
  // Spends one attempt on the code: attempts + 1 only if it is unused, unexpired at `now`
  // and has fewer than max_attempts (single conditional write). True when an attempt was
  // left, false when the code is spent, used or expired — then no comparison may happen.
  virtual Result<bool> sms_spend_attempt(int64_t code_id, int max_attempts, int64_t now) = 0;
  // Use once: used_at = now only if unused and unexpired. True when this call won.
  virtual Result<bool> sms_consume(int64_t code_id, int64_t now) = 0;
  // Housekeeping: deletes codes created before `created_before` and quota counts of days
  // before `before_day`; returns how many codes.
  virtual Result<int> sms_purge(int64_t created_before, int64_t before_day) = 0;

  // --- application passwords -------------------------------------------------
  // `p.id` is ignored. One conditional insert: kFailedPrecondition "too_many_app_passwords"
  // when the user already has `max_per_user`; kAlreadyExists when (user_id, lookup) is taken;
  // kNotFound when the user does not exist.
  virtual Result<AppPassword> create_app_password(const AppPassword& p, int max_per_user) = 0;
  // Oldest first.
  virtual Result<std::vector<AppPassword>> app_passwords_of_user(int64_t user_id) = 0;
  // The protocol check's one indexed read: the user named `username` (case-insensitive)
  // and their application password with `lookup`. kNotFound when either is missing.
  virtual Result<std::pair<User, AppPassword>> app_password_for_login(
      const std::string& username, const std::string& lookup) = 0;
  virtual Status touch_app_password(int64_t id, int64_t now, const std::string& ip) = 0;
  // Returns what was deleted; kNotFound if the password is not the user's.
  virtual Result<AppPassword> delete_app_password(int64_t user_id, int64_t id) = 0;

  // --- push approval: authenticator enrolment, devices, approval requests -----
  // (records in store/push.hpp). kAlreadyExists on a token hash collision.
  virtual Status create_push_enrollment(const PushEnrollment& e) = 0;
  // Use once: marks the link used if it is unused and expires_at > now, and returns it;
  // kNotFound when unknown, used or expired (one conditional write).
  virtual Result<PushEnrollment> use_push_enrollment(const std::string& token_hash,
                                                     int64_t now) = 0;
  // Enrolment of a device on its (unconfirmed) push method, in one transaction: stores the
  // method's sealed TOTP seed and the device. `d.id` is ignored. kNotFound unless
  // d.method_id is an unconfirmed push method of d.user_id; kAlreadyExists when the method
  // already has a device or the device id is taken.
  virtual Result<PushDevice> attach_push_device(const PushDevice& d,
                                                const std::string& sealed_seed) = 0;
  virtual Result<PushDevice> push_device_by_device_id(const std::string& device_id) = 0;
  virtual Result<std::vector<PushDevice>> push_devices_of_user(int64_t user_id) = 0;
  // Replay guard: sets last_request_ms = ts_ms and last_seen_at = now only if
  // ts_ms > last_request_ms. true when this call won; kNotFound when the device is gone.
  virtual Result<bool> advance_push_device_clock(int64_t id, int64_t ts_ms, int64_t now) = 0;
  // `a.id` is ignored; the state is always stored as pending.
  virtual Result<Approval> create_approval(const Approval& a) = 0;
  // An approval is open while it is pending, expires_at > now and its session still waits
  // for the second step (a sign-in completed another way closes its requests).
  // kNotFound unless the approval belongs to the user. A pending approval that is no longer
  // open reads as kExpired.
  virtual Result<Approval> approval_of_user(int64_t user_id, int64_t id, int64_t now) = 0;
  // Open approvals of the user, oldest first.
  virtual Result<std::vector<Approval>> pending_approvals_of_user(int64_t user_id, int64_t now) = 0;
  // Exactly one decision: sets state (kApproved or kDenied), decided_at and decided_by only
  // if the approval is the user's and open. true when this call won; kNotFound when it is
  // not the user's.
  virtual Result<bool> decide_approval(int64_t user_id, int64_t id, ApprovalState state,
                                       const std::string& decided_by, int64_t now) = 0;
  // Use once: the pending sign-in that asked takes its approved request. true when this
  // call won (approved, not yet consumed, belongs to session_id).
  virtual Result<bool> consume_approval(int64_t session_id, int64_t id, int64_t now) = 0;
  // Housekeeping: approvals and enrolment links that expired before `before`.
  virtual Result<int> delete_stale_push_rows(int64_t before) = 0;

  // --- running instances (`twostep instances`, `twostep key use`) -------------
  // Writes the instance's row, or replaces every column of the row with its id (the heartbeat
  // writes it again, so that a row deleted meanwhile comes back).
  virtual Status put_instance(const Instance& i) = 0;
  // kNotFound when there is no such row.
  virtual Status delete_instance(const std::string& id) = 0;
  // Every row, live or stale, oldest start first.
  virtual Result<std::vector<Instance>> list_instances() = 0;
  // Housekeeping: rows not seen since `seen_before`; returns how many.
  virtual Result<int> delete_instances_seen_before(int64_t seen_before) = 0;
};

// Opens the backend named by a database URL: "sqlite:PATH" (or "sqlite::memory:").
// Creates the parent directory of a SQLite file if missing. Does not migrate.
Result<std::unique_ptr<Store>> open_store(const std::string& url);

// --- PostgreSQL ----------------------------------------------------------------
// "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAM=VALUE...]" (or "postgres://") opens
// the PostgreSQL backend: a pool of `pool_size` connections (database.pool_size), the first
// opened at once so that a wrong URL or an unreachable server is reported at start-up
// (kInvalidArgument / kUnavailable). Neither message nor detail ever contains the URL.
struct StoreOptions {
  int pool_size = 4;  // PostgreSQL connections per process; SQLite ignores it
};
Result<std::unique_ptr<Store>> open_store(const std::string& url, const StoreOptions& options);

// What a database URL names, checked by the rules of open_store without opening anything
// (`twostep config check`): kInvalidArgument naming database.url, never quoting a password.
struct DatabaseUrl {
  enum class Kind { kSqliteMemory, kSqliteFile, kPostgres };
  Kind kind = Kind::kSqliteMemory;
  std::string sqlite_path;  // kSqliteFile
};
Result<DatabaseUrl> parse_database_url(const std::string& url);

// `twostep config check --connect` on PostgreSQL: one connection, the schema version read
// without migrating or writing (0: nothing migrated yet). kFailedPrecondition schema_too_new when
// a newer twostep migrated the database; kUnavailable when the server does not answer.
Result<int> check_postgres_schema(const std::string& url);

}  // namespace twostep::store
