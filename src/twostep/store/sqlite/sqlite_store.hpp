// The SQLite backend of the store: a small pool of connections to one database file (WAL) or
// to one private in-memory database, each caching its prepared statements. SQLite errors are
// translated to core errors here and nowhere else.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "twostep/store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace twostep::store {
struct Write;  // backend.hpp
}

namespace twostep::store::sqlite {

// Owns one prepared statement (finalized on destruction).
class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;

  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Owns one connection (closed on destruction) and the statements prepared on it.
class Connection {
 public:
  // Opens and configures a connection: busy timeout, WAL (files only), foreign keys.
  static core::Result<Connection> open(const std::string& filename, bool uri);

  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;

  sqlite3* get() const { return db_; }
  // A statement prepared once per connection and reused; the caller resets it after use.
  core::Result<sqlite3_stmt*> prepare_cached(std::string_view sql);
  // Runs one or more statements without results (pragmas, migrations, BEGIN/COMMIT).
  core::Status exec(const char* sql);

 private:
  void close();

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, Statement> cache_;
};

class SqliteStore final : public Store {
 public:
  static constexpr int kFilePoolSize = 4;

  // Opens (creating if needed) the database file at `path`. The parent directory must exist.
  static Result<std::unique_ptr<SqliteStore>> open_file(const std::string& path);
  // A fresh private in-memory database that lives as long as the store.
  static Result<std::unique_ptr<SqliteStore>> open_memory();

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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
  // security keys
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

  // SMS codes (issue 6)
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

  Result<AppPassword> create_app_password(const AppPassword& p, int max_per_user) override;
  Result<std::vector<AppPassword>> app_passwords_of_user(int64_t user_id) override;
  Result<std::pair<User, AppPassword>> app_password_for_login(const std::string& username,
                                                              const std::string& lookup) override;
  Status touch_app_password(int64_t id, int64_t now, const std::string& ip) override;
  Result<AppPassword> delete_app_password(int64_t user_id, int64_t id) override;

  // push approval
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
  enum class Access { kRead, kWrite };

  explicit SqliteStore(std::vector<Connection> connections);
  static Result<std::unique_ptr<SqliteStore>> open_pool(const std::string& filename, bool uri,
                                                        int size);
  // Borrows a connection until the lease ends; writers also hold writer_mu_ so that this
  // process never makes SQLite's busy handler arbitrate between its own threads.
  Lease lease(Access access);
  // The writes of backend.hpp on a connection leased for writing: one statement, or several in
  // one transaction; the rows each changed.
  Result<int> write(const Write& w);
  Result<std::vector<int>> write_all(const std::vector<Write>& writes);
  void give_back(Connection* connection);

  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<Connection*> idle_;
  std::mutex writer_mu_;
};

}  // namespace twostep::store::sqlite
