// The PostgreSQL backend of the store (libpq): a pool of connections to one database, each
// preparing its statements once, every value sent as a bound parameter. PostgreSQL errors are
// translated to core errors here and nowhere else; a broken connection answers kUnavailable (HTTP
// 503) and is replaced on a later call, so the server recovers by itself when the database comes
// back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "twostep/store/store.hpp"

// libpq's handle types (libpq-fe.h), declared here so that users of this header need not include
// libpq.
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace twostep::store {
struct Write;  // backend.hpp
}

namespace twostep::store::postgres {

// Owns one PGresult (cleared on destruction).
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* result) : result_(result) {}
  ~PgResult();
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;

  PGresult* get() const { return result_; }

 private:
  PGresult* result_ = nullptr;
};

// Owns one connection (closed on destruction) and knows which statements it has prepared: prepared
// statements live as long as the server session, so a new session starts empty.
class Connection {
 public:
  // Connects; kUnavailable (with libpq's reason in the detail) when the server cannot be reached or
  // refuses us.
  static core::Result<Connection> open(const std::string& url);

  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;

  PGconn* get() const { return conn_; }
  // Hands the connection over (the caller PQfinish()es it): the event bus opens its listening
  // connection with the same defaults and timeouts as the pool's.
  PGconn* release();
  bool connected() const { return conn_ != nullptr; }
  // Health check before use, without a round trip: false when libpq already knows the connection is
  // broken, or when the idle socket has something to read and reading it shows the server went away
  // (a restart sends every idle session a termination notice and closes the socket).
  bool healthy();
  // The name of the statement prepared on this connection for `sql`, preparing it on first use with
  // the given parameter type OIDs.
  core::Result<std::string> prepare_cached(std::string_view sql,
                                           const std::vector<unsigned>& types);
  // Runs statements that take no parameters (BEGIN/COMMIT/ROLLBACK, migrations).
  core::Status exec(const char* sql);

 private:
  void close();

  PGconn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
};

class PgStore final : public Store {
 public:
  // After a failed connection attempt, calls answer kUnavailable at once for this long instead of
  // each waiting for a new attempt (a down database must not park every worker thread).
  static constexpr std::chrono::milliseconds kReconnectBackoff{250};
  // How long a call waits for a free pooled connection before answering kUnavailable.
  static constexpr std::chrono::seconds kLeaseTimeout{30};

  // Parses the URL and opens the first connection, so that a wrong URL or an unreachable server is
  // reported at start-up; the other connections open on first use.
  static Result<std::unique_ptr<PgStore>> open(const std::string& url, int pool_size);
  // The parse step of open(), without connecting: kInvalidArgument naming database.url (never
  // quoting the URL, which may hold a password).
  static Status check_url(const std::string& url);
  // The newest migration applied (0 when none ran yet), read without migrating or writing.
  Result<int> schema_version();
  // The newest migration this binary has.
  static int known_schema_version();

  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  Result<int> migrate() override;

  Result<User> create_user(const std::string& username, const std::string& password_hash,
                           int64_t now) override;
  Result<User> user_by_name(const std::string& username) override;
  Result<User> user_by_id(int64_t id) override;
  Result<std::vector<User>> list_users() override;
  Status set_password_hash(int64_t user_id, const std::string& password_hash) override;
  Status set_user_disabled(int64_t user_id, bool disabled) override;
  Status set_last_login(int64_t user_id, int64_t at) override;
  Result<std::string> webauthn_user_handle(int64_t user_id, const std::string& candidate) override;
  Result<int64_t> pin_legacy_key_ids(uint32_t key_id) override;
  Result<std::vector<KeyUse>> key_usage(int64_t now) override;
  Result<std::vector<KeyDependents>> delete_recovery_codes_of_key(uint32_t key_id) override;
  Result<std::vector<AppPassword>> app_passwords_of_key(uint32_t key_id) override;
  Result<int> delete_live_sms_codes_of_key(uint32_t key_id, int64_t now) override;
  Result<std::vector<Method>> methods_sealed_with_other_keys(uint32_t key_id) override;
  Result<bool> reseal_method_secret(int64_t method_id, const std::string& old_secret,
                                    const std::string& new_secret) override;
  Result<bool> reseal_yubikey_secret(const std::string& public_id, const std::string& old_secret,
                                     const std::string& new_secret) override;
  Result<std::vector<Method>> methods_of_type(const std::string& type) override;
  Result<bool> rekey_method_params(int64_t method_id, const std::string& old_params,
                                   const std::string& new_params) override;

  Result<Session> create_session(const Session& s) override;
  Result<Session> session_by_token_hash(const std::string& token_hash) override;
  Result<Session> session_by_id(int64_t id) override;
  Result<std::vector<Session>> sessions_of_user(int64_t user_id) override;
  Status touch_session(int64_t id, int64_t now, int64_t new_expires_at) override;
  Status upgrade_session(int64_t id, const std::string& new_token_hash, SessionState state,
                         int64_t auth_at, int64_t expires_at) override;
  Result<int> add_session_failure(int64_t id) override;
  Status delete_session(int64_t id) override;
  Status delete_user_session(int64_t user_id, int64_t id) override;
  Result<int> delete_sessions_of_user(int64_t user_id, int64_t keep_id) override;
  Result<int> clear_auth_times(int64_t user_id) override;
  Result<int> delete_expired_sessions(int64_t now) override;

  Status append_audit(const AuditEvent& e) override;
  Result<std::vector<AuditEvent>> audit_of_user(int64_t user_id, int limit) override;
  Result<std::vector<AuditEvent>> site_audit(const AuditFilter& filter) override;

  Result<Throttle> throttle_get(const std::string& key) override;
  Result<Throttle> throttle_hit(const std::string& key, int64_t now, int window_s, int max,
                                int lock_s) override;
  Status throttle_clear(const std::string& key) override;

  Result<Method> create_method(const Method& m) override;
  Result<std::vector<Method>> methods_of_user(int64_t user_id) override;
  Result<Method> method_of_user(int64_t user_id, int64_t method_id) override;
  Result<Method> method_by_lookup(const std::string& type, const std::string& lookup) override;
  Status confirm_method(int64_t user_id, int64_t method_id, int64_t now) override;
  Status rename_method(int64_t user_id, int64_t method_id, const std::string& label) override;
  Status set_default_method(int64_t user_id, int64_t method_id) override;
  Status delete_method(int64_t user_id, int64_t method_id) override;
  Result<int> delete_all_methods(int64_t user_id) override;
  Result<int> delete_unconfirmed_methods(int64_t created_before) override;
  Status update_method_params(int64_t user_id, int64_t method_id,
                              const std::string& params) override;
  Result<bool> advance_method_step(int64_t method_id, int64_t step, int64_t now) override;
  Status touch_method(int64_t method_id, int64_t now) override;

  Status replace_recovery_codes(int64_t user_id, const std::vector<std::string>& hashes,
                                uint32_t key_id, int64_t now) override;
  Result<std::vector<uint32_t>> recovery_code_key_ids(int64_t user_id) override;
  Result<bool> use_recovery_code(int64_t user_id, uint32_t key_id, const std::string& hash,
                                 int64_t now) override;
  Result<int> remaining_recovery_codes(int64_t user_id) override;

  // --- organisations ---
  Result<Org> create_org(const std::string& name, int64_t owner_id, int64_t now) override;
  Result<Org> org_by_id(int64_t id) override;
  Result<Org> org_by_name(const std::string& name) override;
  Result<std::vector<Org>> list_orgs() override;
  Result<std::vector<OrgMembership>> orgs_of_user(int64_t user_id) override;
  Result<std::vector<OrgMember>> org_members(int64_t org_id) override;
  Result<OrgMember> org_member(int64_t org_id, int64_t user_id) override;
  Status add_org_member(int64_t org_id, int64_t user_id, OrgRole role, int64_t now) override;
  Status set_org_member_role(int64_t org_id, int64_t user_id, OrgRole role) override;
  Status remove_org_member(int64_t org_id, int64_t user_id) override;
  Result<Org> set_org_policy(int64_t org_id, bool require_2fa, int grace_days,
                             int64_t now) override;
  Status append_org_audit(const OrgAuditEvent& e) override;
  Result<std::vector<OrgAuditEvent>> org_audit(int64_t org_id, int limit) override;
  Result<int> restrict_sessions_without_2fa(int64_t user_id) override;
  Result<int> lift_restricted_sessions(int64_t user_id) override;

  // --- security keys ---
  Result<int> import_yubikeys(const std::vector<YubikeyRecord>& keys, bool replace,
                              int64_t now) override;
  Result<YubikeyRecord> yubikey_by_public_id(const std::string& public_id) override;
  Result<std::vector<YubikeyRecord>> list_yubikeys() override;
  Result<bool> advance_yubikey_counter(const std::string& public_id, int64_t counter,
                                       int64_t now) override;
  Status put_webauthn_challenge(int64_t session_id, const std::string& purpose,
                                const std::string& challenge, int64_t expires_at) override;
  Result<std::string> take_webauthn_challenge(int64_t session_id, const std::string& purpose,
                                              int64_t now) override;
  Result<int> delete_expired_webauthn_challenges(int64_t now) override;

  // --- SMS codes ---
  Result<SmsReservation> sms_reserve(const SmsCode& code, int cooldown_s, int64_t day,
                                     const std::vector<SmsQuota>& quotas) override;
  Status sms_mark_sent(int64_t code_id) override;
  Status sms_cancel(int64_t code_id, int64_t day,
                    const std::vector<std::string>& quota_keys) override;
  Result<SmsCode> sms_latest_code(int64_t user_id, int64_t method_id,
                                  const std::string& purpose) override;
  Result<bool> sms_spend_attempt(int64_t code_id, int max_attempts, int64_t now) override;
  Result<bool> sms_consume(int64_t code_id, int64_t now) override;
  Result<int> sms_purge(int64_t created_before, int64_t before_day) override;

  // --- application passwords ---
  Result<AppPassword> create_app_password(const AppPassword& p, int max_per_user) override;
  Result<std::vector<AppPassword>> app_passwords_of_user(int64_t user_id) override;
  Result<std::pair<User, AppPassword>> app_password_for_login(const std::string& username,
                                                              const std::string& lookup) override;
  Status touch_app_password(int64_t id, int64_t now, const std::string& ip) override;
  Result<AppPassword> delete_app_password(int64_t user_id, int64_t id) override;

  // --- push approval ---
  Status create_push_enrollment(const PushEnrollment& e) override;
  Result<PushEnrollment> use_push_enrollment(const std::string& token_hash, int64_t now) override;
  Result<PushDevice> attach_push_device(const PushDevice& d,
                                        const std::string& sealed_seed) override;
  Result<PushDevice> push_device_by_device_id(const std::string& device_id) override;
  Result<std::vector<PushDevice>> push_devices_of_user(int64_t user_id) override;
  Result<bool> advance_push_device_clock(int64_t id, int64_t ts_ms, int64_t now) override;
  Result<Approval> create_approval(const Approval& a) override;
  Result<Approval> approval_of_user(int64_t user_id, int64_t id, int64_t now) override;
  Result<std::vector<Approval>> pending_approvals_of_user(int64_t user_id, int64_t now) override;
  Result<bool> decide_approval(int64_t user_id, int64_t id, ApprovalState state,
                               const std::string& decided_by, int64_t now) override;
  Result<bool> consume_approval(int64_t session_id, int64_t id, int64_t now) override;
  Result<int> delete_stale_push_rows(int64_t before) override;

  Status put_instance(const Instance& i) override;
  Status delete_instance(const std::string& id) override;
  Result<std::vector<Instance>> list_instances() override;
  Result<int> delete_instances_seen_before(int64_t seen_before) override;

 private:
  class Lease;

  PgStore(std::string url, int pool_size);
  // Borrows a healthy connection until the lease ends, reconnecting a broken one first;
  // kUnavailable when none can be had.
  Result<Lease> lease();
  // The writes of backend.hpp on a connection leased for writing: one statement, or several in
  // one transaction; the rows each changed.
  Result<int> write(const Write& w);
  Result<std::vector<int>> write_all(const std::vector<Write>& writes);
  void give_back(Connection* connection);
  // Logs the transitions between "reachable" and "unreachable" once each, not every failure.
  void note_reachable(bool reachable, const std::string& detail);

  const std::string url_;  // may hold a password: never logged, never in an error
  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<Connection*> idle_;
  std::chrono::steady_clock::time_point retry_after_;  // guarded by pool_mu_
  enum : int { kUnknown, kReachable, kUnreachable };
  std::atomic<int> reachability_{kUnknown};
};

}  // namespace twostep::store::postgres
