// What every store backend shares (only backends include this): the column lists of each table
// (in SELECT / RETURNING order), the readers that turn one row into a record, and the error
// helpers of the verbs. A backend's row type provides col_int(i), col_bool(i), col_text(i) and
// col_blob(i); the readers are generic lambdas so that `one(q, read_user, "User")` works with any
// of them. Also the description of a write (Write) that each backend's write helpers run. SQL
// itself stays in each backend.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "twostep/crypto/keyring.hpp"
#include "twostep/store/store.hpp"

namespace twostep::store {

// kNotFound naming the missing thing ("User not found.").
inline tl::unexpected<core::Error> not_found(const char* what) {
  return core::fail(core::Code::kNotFound, "not_found", std::string(what) + " not found.");
}

// Gives a translated error a message that fits the verb (e.g. "username_taken").
inline tl::unexpected<core::Error> refine(core::Error e, core::Code code, const char* reason,
                                          const char* message) {
  if (e.code == code) {
    e.reason = reason;
    e.message = message;
  }
  return tl::unexpected<core::Error>(std::move(e));
}

// An UPDATE/DELETE that changed no row: kNotFound naming `what`.
inline core::Status expect_changed(core::Result<int> changed, const char* what) {
  if (!changed) {
    return tl::unexpected(std::move(changed.error()));
  }
  if (*changed == 0) {
    return not_found(what);
  }
  return core::ok();
}

// A use-once conditional write: true when this call changed the row, false when it did not (the
// row is gone or already spent).
inline core::Result<bool> changed_one(core::Result<int> changed) {
  if (!changed) {
    return tl::unexpected(std::move(changed.error()));
  }
  return *changed == 1;
}

// A use-once conditional UPDATE: true when this call changed the row; otherwise false when
// the row exists (the step or counter was already spent), kNotFound when it does not.
template <class Query>
core::Result<bool> won_or_spent(Query& update, Query& exists, const char* what) {
  TS_ASSIGN_OR_RETURN(int changed, update.run());
  if (changed == 1) {
    return true;
  }
  TS_RETURN_IF_ERROR(exists.scalar(what));
  return false;
}

// --- statements run by the backends' write helpers -----------------------------
// A value bound to one parameter of a Write. Integers convert by themselves; text, blobs and
// booleans are named, because the backends bind them differently (PostgreSQL types each
// parameter as TEXT, BYTEA or BOOLEAN; SQLite keeps text and blobs apart). Text and blobs are
// views: what they view must outlive the call that runs the writes.
struct Text {
  std::string_view value;
};
struct Blob {
  std::string_view value;
};
struct Bool {
  bool value;
};

struct Param {
  enum class Kind : uint8_t { kInt, kBool, kText, kBlob };
  template <std::integral T>
  requires(!std::same_as<T, bool>) Param(T v) : kind(Kind::kInt), number(static_cast<int64_t>(v)) {}
  Param(Text t) : kind(Kind::kText), bytes(t.value) {}
  Param(Blob b) : kind(Kind::kBlob), bytes(b.value) {}
  Param(Bool b) : kind(Kind::kBool), number(b.value ? 1 : 0) {}

  Kind kind;
  int64_t number = 0;
  std::string_view bytes;
};

// Binds `p` to the next parameter of a backend's query.
template <class Query>
Query& bind_param(Query& q, const Param& p) {
  switch (p.kind) {
    case Param::Kind::kInt:
      return q.bind_int(p.number);
    case Param::Kind::kBool:
      return q.bind_bool(p.number != 0);
    case Param::Kind::kText:
      return q.bind_text(p.bytes);
    case Param::Kind::kBlob:
      return q.bind_blob(p.bytes);
  }
  return q;
}

// One INSERT/UPDATE/DELETE in the backend's SQL and the values of its parameters, in order. A
// backend's write(w) runs one on a leased connection and gives the rows it changed; write_all(ws)
// runs several in order in one transaction (the first error rolls back all) and gives the rows
// each changed.
struct Write {
  std::string_view sql;
  std::vector<Param> params;
};

// A backend's write_all on a leased connection: `run(c, w)` runs one write and gives the rows it
// changed; the first error returns at once and the Transaction rolls back.
template <class Transaction, class Connection, class Run>
core::Result<std::vector<int>> write_in_transaction(Connection& c, const std::vector<Write>& writes,
                                                    Run run) {
  Transaction tx(c);
  TS_RETURN_IF_ERROR(tx.begin());
  std::vector<int> changed;
  changed.reserve(writes.size());
  for (const Write& w : writes) {
    TS_ASSIGN_OR_RETURN(int n, run(c, w));
    changed.push_back(n);
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return changed;
}

#define TWOSTEP_USER_COLUMNS "id, username, password_hash, disabled, created_at, last_login_at"

inline constexpr auto read_user = [](const auto& q) {
  User u;
  u.id = q.col_int(0);
  u.username = q.col_text(1);
  u.password_hash = q.col_text(2);
  u.disabled = q.col_bool(3);
  u.created_at = q.col_int(4);
  u.last_login_at = q.col_int(5);
  return u;
};

#define TWOSTEP_SESSION_COLUMNS                                                      \
  "id, token_hash, user_id, state, remember, created_at, last_seen_at, expires_at, " \
  "absolute_expires_at, auth_at, failed_attempts, ip, user_agent"

inline constexpr auto read_session = [](const auto& q) {
  Session s;
  s.id = q.col_int(0);
  s.token_hash = q.col_text(1);
  s.user_id = q.col_int(2);
  s.state = static_cast<SessionState>(q.col_int(3));
  s.remember = q.col_bool(4);
  s.created_at = q.col_int(5);
  s.last_seen_at = q.col_int(6);
  s.expires_at = q.col_int(7);
  s.absolute_expires_at = q.col_int(8);
  s.auth_at = q.col_int(9);
  s.failed_attempts = static_cast<int>(q.col_int(10));
  s.ip = q.col_text(11);
  s.user_agent = q.col_text(12);
  return s;
};

#define TWOSTEP_AUDIT_COLUMNS "id, user_id, at, event, ip, user_agent, detail"

inline constexpr auto read_audit = [](const auto& q) {
  AuditEvent e;
  e.id = q.col_int(0);
  e.user_id = q.col_int(1);
  e.at = q.col_int(2);
  e.event = q.col_text(3);
  e.ip = q.col_text(4);
  e.user_agent = q.col_text(5);
  e.detail = q.col_text(6);
  return e;
};

// Store::site_audit: the audit columns of `a`, then the username of a LEFT JOIN on `users u`
// ("" for user 0 and for ids that name no account).
#define TWOSTEP_SITE_AUDIT_COLUMNS \
  "a.id, a.user_id, a.at, a.event, a.ip, a.user_agent, a.detail, COALESCE(u.username, '')"

inline constexpr auto read_site_audit = [](const auto& q) {
  AuditEvent e = read_audit(q);
  e.username = q.col_text(7);
  return e;
};

inline core::Status check_audit_limit(int limit) {
  if (limit < 1 || limit > kMaxAuditPage) {
    return core::fail(core::Code::kInvalidArgument, "bad_limit",
                      "The limit must be from 1 to " + std::to_string(kMaxAuditPage) + ".");
  }
  return core::ok();
}

#define TWOSTEP_THROTTLE_COLUMNS "key, window_start, hit_count, locked_until"

inline constexpr auto read_throttle = [](const auto& q) {
  Throttle t;
  t.key = q.col_text(0);
  t.window_start = q.col_int(1);
  t.count = static_cast<int>(q.col_int(2));
  t.locked_until = q.col_int(3);
  return t;
};

#define TWOSTEP_METHOD_COLUMNS                                                            \
  "id, user_id, type, label, secret, params, lookup, confirmed, is_default, created_at, " \
  "last_used_at, last_step"

inline constexpr auto read_method = [](const auto& q) {
  Method m;
  m.id = q.col_int(0);
  m.user_id = q.col_int(1);
  m.type = q.col_text(2);
  m.label = q.col_text(3);
  m.secret = q.col_blob(4);
  m.params = q.col_text(5);
  m.lookup = q.col_text(6);
  m.confirmed = q.col_bool(7);
  m.is_default = q.col_bool(8);
  m.created_at = q.col_int(9);
  m.last_used_at = q.col_int(10);
  m.last_step = q.col_int(11);
  return m;
};

// --- organisations -------------------------------------------------------------

#define TWOSTEP_ORG_COLUMNS "id, name, created_at, require_2fa, grace_days, policy_since"

// Reads the org columns starting at column `first` (joins put them after others).
inline constexpr auto read_org_at = [](const auto& q, int first) {
  Org o;
  o.id = q.col_int(first);
  o.name = q.col_text(first + 1);
  o.created_at = q.col_int(first + 2);
  o.require_2fa = q.col_bool(first + 3);
  o.grace_days = static_cast<int>(q.col_int(first + 4));
  o.policy_since = q.col_int(first + 5);
  return o;
};

inline constexpr auto read_org = [](const auto& q) { return read_org_at(q, 0); };

inline constexpr auto read_org_role = [](const auto& q, int i) {
  return parse_org_role(q.col_text(i)).value_or(OrgRole::kMember);
};

// `confirmed_types` is a backend's subquery giving the member's confirmed method types as "a,b"
// (aggregate functions differ between backends).
#define TWOSTEP_ORG_MEMBER_SELECT(confirmed_types)                         \
  "m.org_id, m.user_id, u.username, m.role, m.added_at, u.last_login_at, " \
  "COALESCE((" confirmed_types                                             \
  "), '') "                                                                \
  "FROM org_members m JOIN users u ON u.id = m.user_id"

inline constexpr auto read_org_member = [](const auto& q) {
  OrgMember m;
  m.org_id = q.col_int(0);
  m.user_id = q.col_int(1);
  m.username = q.col_text(2);
  m.role = read_org_role(q, 3);
  m.added_at = q.col_int(4);
  m.last_login_at = q.col_int(5);
  std::string types = q.col_text(6);
  size_t pos = 0;
  while (pos < types.size()) {
    size_t end = std::min(types.find(',', pos), types.size());
    if (end > pos) {
      m.method_types.push_back(types.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  std::sort(m.method_types.begin(), m.method_types.end());
  return m;
};

#define TWOSTEP_ORG_AUDIT_COLUMNS                                                           \
  "a.id, a.org_id, a.at, a.actor_id, a.subject_id, a.event, a.ip, a.user_agent, a.detail, " \
  "COALESCE(actor.username, ''), COALESCE(subject.username, '')"

inline constexpr auto read_org_audit = [](const auto& q) {
  OrgAuditEvent e;
  e.id = q.col_int(0);
  e.org_id = q.col_int(1);
  e.at = q.col_int(2);
  e.actor_id = q.col_int(3);
  e.subject_id = q.col_int(4);
  e.event = q.col_text(5);
  e.ip = q.col_text(6);
  e.user_agent = q.col_text(7);
  e.detail = q.col_text(8);
  e.actor_name = q.col_text(9);
  e.subject_name = q.col_text(10);
  return e;
};

// A role change or removal that changed nothing: the user is not a member, or is the
// organisation's only owner.
inline tl::unexpected<core::Error> membership_refusal(bool is_member) {
  if (!is_member) {
    return core::fail(core::Code::kNotFound, "not_found", "No such member.");
  }
  return core::fail(core::Code::kFailedPrecondition, "last_owner",
                    "An organisation needs at least one owner: make someone else an owner first.");
}

// --- security keys -------------------------------------------------------------

#define TWOSTEP_YUBIKEY_COLUMNS "public_id, secret, last_counter, imported_at, last_used_at"

inline constexpr auto read_yubikey = [](const auto& q) {
  YubikeyRecord k;
  k.public_id = q.col_text(0);
  k.secret = q.col_blob(1);
  k.last_counter = q.col_int(2);
  k.imported_at = q.col_int(3);
  k.last_used_at = q.col_int(4);
  return k;
};

// --- SMS codes -----------------------------------------------------------------

#define TWOSTEP_SMS_CODE_COLUMNS                                                      \
  "id, user_id, method_id, purpose, number_hash, code_hash, created_at, expires_at, " \
  "sent, attempts, used_at, key_id"

inline constexpr auto read_sms_code = [](const auto& q) {
  SmsCode c;
  c.id = q.col_int(0);
  c.user_id = q.col_int(1);
  c.method_id = q.col_int(2);
  c.purpose = q.col_text(3);
  c.number_hash = q.col_text(4);
  c.code_hash = q.col_text(5);
  c.created_at = q.col_int(6);
  c.expires_at = q.col_int(7);
  c.sent = q.col_bool(8);
  c.attempts = static_cast<int>(q.col_int(9));
  c.used_at = q.col_int(10);
  c.key_id = static_cast<uint32_t>(q.col_int(11));
  return c;
};

// --- application passwords -------------------------------------------------------

#define TWOSTEP_APP_PASSWORD_COLUMNS                                            \
  "id, user_id, name, scopes, lookup, hash, key_id, created_at, last_used_at, " \
  "last_used_ip"

// Reads the ten app-password columns starting at column `first`.
inline constexpr auto read_app_password_at = [](const auto& q, int first) {
  AppPassword p;
  p.id = q.col_int(first);
  p.user_id = q.col_int(first + 1);
  p.name = q.col_text(first + 2);
  p.scopes = q.col_text(first + 3);
  p.lookup = q.col_text(first + 4);
  p.hash = q.col_text(first + 5);
  p.key_id = static_cast<uint32_t>(q.col_int(first + 6));
  p.created_at = q.col_int(first + 7);
  p.last_used_at = q.col_int(first + 8);
  p.last_used_ip = q.col_text(first + 9);
  return p;
};

inline constexpr auto read_app_password = [](const auto& q) { return read_app_password_at(q, 0); };

// The protocol check's join: the user's columns (TWOSTEP_USER_COLUMNS with "u."), then the
// password's ("a.").
#define TWOSTEP_USER_AND_APP_PASSWORD_COLUMNS                                               \
  "u.id, u.username, u.password_hash, u.disabled, u.created_at, u.last_login_at, a.id, "    \
  "a.user_id, a.name, a.scopes, a.lookup, a.hash, a.key_id, a.created_at, a.last_used_at, " \
  "a.last_used_ip"

inline constexpr auto read_user_and_app_password = [](const auto& q) {
  return std::make_pair(read_user(q), read_app_password_at(q, 6));
};

// --- push approval ---------------------------------------------------------------

#define TWOSTEP_ENROLLMENT_COLUMNS "token_hash, user_id, method_id, created_at, expires_at, used_at"

inline constexpr auto read_enrollment = [](const auto& q) {
  PushEnrollment e;
  e.token_hash = q.col_text(0);
  e.user_id = q.col_int(1);
  e.method_id = q.col_int(2);
  e.created_at = q.col_int(3);
  e.expires_at = q.col_int(4);
  e.used_at = q.col_int(5);
  return e;
};

#define TWOSTEP_DEVICE_COLUMNS                                                         \
  "id, method_id, user_id, device_id, public_key, name, created_at, last_request_ms, " \
  "last_seen_at"

inline constexpr auto read_device = [](const auto& q) {
  PushDevice d;
  d.id = q.col_int(0);
  d.method_id = q.col_int(1);
  d.user_id = q.col_int(2);
  d.device_id = q.col_text(3);
  d.public_key = q.col_blob(4);
  d.name = q.col_text(5);
  d.created_at = q.col_int(6);
  d.last_request_ms = q.col_int(7);
  d.last_seen_at = q.col_int(8);
  return d;
};

inline ApprovalState approval_state_from(const std::string& s) {
  if (s == "approved") return ApprovalState::kApproved;
  if (s == "denied") return ApprovalState::kDenied;
  if (s == "expired") return ApprovalState::kExpired;
  return ApprovalState::kPending;
}

// A request can be answered only while its sign-in waits for the second step (the session
// still exists in state 1, kPendingSecondFactor) and until it expires. `now` is the backend's
// placeholder of the current time ("?1", "$1").
#define TWOSTEP_APPROVAL_OPEN(now) \
  "(expires_at > " now             \
  " AND EXISTS(SELECT 1 FROM sessions s WHERE s.id = session_id AND s.state = 1))"

// The state column as read at `now`: a pending row that can no longer be answered reads as
// expired.
#define TWOSTEP_APPROVAL_COLUMNS(now) \
  "id, user_id, session_id, method_id, number, choices, "           \
  "CASE WHEN state = 'pending' AND NOT " TWOSTEP_APPROVAL_OPEN(now) \
  " THEN 'expired' ELSE state "                                     \
  "END, created_at, expires_at, decided_at, decided_by, consumed_at, ip, user_agent"

// Reads TWOSTEP_APPROVAL_COLUMNS.
inline constexpr auto read_approval = [](const auto& q) {
  Approval a;
  a.id = q.col_int(0);
  a.user_id = q.col_int(1);
  a.session_id = q.col_int(2);
  a.method_id = q.col_int(3);
  a.number = static_cast<int>(q.col_int(4));
  a.choices = q.col_text(5);
  a.state = approval_state_from(q.col_text(6));
  a.created_at = q.col_int(7);
  a.expires_at = q.col_int(8);
  a.decided_at = q.col_int(9);
  a.decided_by = q.col_text(10);
  a.consumed_at = q.col_int(11);
  a.ip = q.col_text(12);
  a.user_agent = q.col_text(13);
  return a;
};

// --- master keys -----------------------------------------------------------------
// The same SQL on both backends (SQLite reads `$1` as the first parameter too).

inline constexpr auto read_key_id = [](const auto& q) {
  return static_cast<uint32_t>(q.col_int(0));
};
inline constexpr auto read_blob = [](const auto& q) { return q.col_blob(0); };

// Store::pin_legacy_key_ids: one UPDATE per table of keyed hashes, run by write_all; the verb
// answers the sum of the rows changed.
inline std::vector<Write> pin_legacy_key_id_writes(uint32_t key_id) {
  return {{"UPDATE recovery_codes SET key_id = $1 WHERE key_id = 0", {key_id}},
          {"UPDATE sms_codes SET key_id = $1 WHERE key_id = 0", {key_id}}};
}

// Store::key_usage: one GROUP BY per table. Sealed blobs carry their key id in bytes 2-5
// (crypto::Keyring), so those queries group by the 5-byte header.
struct KeyUsageQuery {
  const char* what;
  bool sealed;     // column 0 is a blob header, not a key id
  bool takes_now;  // $1 = now
  const char* sql;
};
inline constexpr KeyUsageQuery kKeyUsageQueries[] = {
    {"sealed_secrets", true, false,
     "SELECT substr(secret, 1, 5), COUNT(*) FROM methods WHERE length(secret) >= 5 GROUP BY 1"},
    {"sealed_secrets", true, false,
     "SELECT substr(secret, 1, 5), COUNT(*) FROM yubikeys WHERE length(secret) >= 5 GROUP BY 1"},
    {"recovery_codes", false, false,
     "SELECT key_id, COUNT(*) FROM recovery_codes WHERE used_at IS NULL GROUP BY key_id"},
    {"app_passwords", false, false, "SELECT key_id, COUNT(*) FROM app_passwords GROUP BY key_id"},
    {"sms_codes", false, true,
     "SELECT key_id, COUNT(*) FROM sms_codes WHERE used_at = 0 AND expires_at > $1 "
     "GROUP BY key_id"},
};

// Store::delete_recovery_codes_of_key: one statement (atomic on both backends); each deleted
// row says its user and whether it was unused, and count_unused_by_user adds them up.
inline constexpr const char* kDeleteRecoveryCodesOfKey =
    "DELETE FROM recovery_codes WHERE key_id = $1 "
    "RETURNING user_id, CASE WHEN used_at IS NULL THEN 1 ELSE 0 END";
inline constexpr auto read_deleted_code = [](const auto& q) {
  return KeyDependents{q.col_int(0), static_cast<int>(q.col_int(1))};
};
inline std::vector<KeyDependents> count_unused_by_user(const std::vector<KeyDependents>& rows) {
  std::map<int64_t, int> by_user;
  for (const auto& r : rows) {
    if (r.count > 0) by_user[r.user_id] += r.count;
  }
  std::vector<KeyDependents> out;
  for (const auto& [user_id, count] : by_user) out.push_back(KeyDependents{user_id, count});
  return out;
}
inline constexpr const char* kAppPasswordsOfKey =
    "SELECT " TWOSTEP_APP_PASSWORD_COLUMNS " FROM app_passwords WHERE key_id = $1 ORDER BY id";
inline constexpr const char* kDeleteLiveSmsCodesOfKey =
    "DELETE FROM sms_codes WHERE key_id = $1 AND used_at = 0 AND expires_at > $2";

// Store::methods_sealed_with_other_keys ($1 = the 5-byte blob header of the key) and the
// conditional replacements of sealed secrets.
#define TWOSTEP_METHODS_SEALED_WITH_OTHER_KEYS   \
  "SELECT " TWOSTEP_METHOD_COLUMNS               \
  " FROM methods WHERE length(secret) >= 5 AND " \
  "substr(secret, 1, 5) <> $1 ORDER BY id"
inline constexpr const char* kResealMethodSecret =
    "UPDATE methods SET secret = $1 WHERE id = $2 AND secret = $3";
inline constexpr const char* kResealYubikeySecret =
    "UPDATE yubikeys SET secret = $1 WHERE public_id = $2 AND secret = $3";
// Store::methods_of_type and rekey_method_params (`key retire --rekey-sms-numbers`).
inline constexpr const char* kMethodsOfType =
    "SELECT " TWOSTEP_METHOD_COLUMNS " FROM methods WHERE type = $1 ORDER BY id";
inline constexpr const char* kRekeyMethodParams =
    "UPDATE methods SET params = $1 WHERE id = $2 AND params = $3";

// Store::put_instance, list_instances, delete_instance, delete_instances_seen_before.
inline constexpr const char* kPutInstance =
    "INSERT INTO instances (id, host, pid, version, listen, key_ids, current_key_id, "
    "heartbeat_s, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
    "version = excluded.version, listen = excluded.listen, key_ids = excluded.key_ids, "
    "current_key_id = excluded.current_key_id, heartbeat_s = excluded.heartbeat_s, "
    "started_at = excluded.started_at, seen_at = excluded.seen_at";
// The Write of kPutInstance: it views the strings of `i`.
inline Write put_instance_write(const Instance& i) {
  return {kPutInstance,
          {Text{i.id}, Text{i.host}, i.pid, Text{i.version}, Text{i.listen}, Text{i.key_ids},
           i.current_key_id, i.heartbeat_s, i.started_at, i.seen_at}};
}
inline constexpr const char* kListInstances =
    "SELECT id, host, pid, version, listen, key_ids, current_key_id, heartbeat_s, started_at, "
    "seen_at FROM instances ORDER BY started_at, id";
inline constexpr auto read_instance = [](const auto& q) {
  Instance i;
  i.id = q.col_text(0);
  i.host = q.col_text(1);
  i.pid = q.col_int(2);
  i.version = q.col_text(3);
  i.listen = q.col_text(4);
  i.key_ids = q.col_text(5);
  i.current_key_id = q.col_int(6);
  i.heartbeat_s = q.col_int(7);
  i.started_at = q.col_int(8);
  i.seen_at = q.col_int(9);
  return i;
};
inline constexpr const char* kDeleteInstance = "DELETE FROM instances WHERE id = $1";
inline constexpr const char* kDeleteInstancesSeenBefore =
    "DELETE FROM instances WHERE seen_at < $1";

// Reads one (key id or blob header, count) row of `k`; a blob of an unknown version gets an
// empty `what` and is left out by merge_key_uses.
inline auto read_key_use(const KeyUsageQuery& k) {
  return [&k](const auto& q) {
    KeyUse u;
    u.what = k.what;
    if (k.sealed) {
      auto id = crypto::Keyring::sealed_key_id(q.col_blob(0));
      if (!id) u.what.clear();
      u.key_id = id.value_or(0);
    } else {
      u.key_id = static_cast<uint32_t>(q.col_int(0));
    }
    u.count = q.col_int(1);
    return u;
  };
}

// Orders by (what, key id) and adds up the rows of one kind and key (kinds span tables).
inline std::vector<KeyUse> merge_key_uses(std::vector<KeyUse> uses) {
  std::sort(uses.begin(), uses.end(), [](const KeyUse& a, const KeyUse& b) {
    return std::tie(a.what, a.key_id) < std::tie(b.what, b.key_id);
  });
  std::vector<KeyUse> out;
  for (auto& u : uses) {
    if (u.what.empty() || u.count == 0) continue;
    if (!out.empty() && out.back().what == u.what && out.back().key_id == u.key_id) {
      out.back().count += u.count;
    } else {
      out.push_back(std::move(u));
    }
  }
  return out;
}

}  // namespace twostep::store
