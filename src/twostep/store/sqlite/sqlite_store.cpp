#include "twostep/store/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <utility>

#include "twostep/store/backend.hpp"
#include "twostep/store/migration.hpp"

namespace twostep::store::sqlite {

using core::Code;
using core::Error;

namespace {

constexpr int kBusyTimeoutMs = 5000;

// The one place where SQLite result codes become core errors. `context` is SQL text or a
// file name, never a bound value: details go to logs and bound values may be secrets.
Error to_error(sqlite3* db, int rc, std::string_view context) {
  std::string detail = "sqlite: ";
  detail.append(context);
  detail += ": ";
  detail += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return Error{Code::kAlreadyExists, "already_exists", "That already exists.",
                   std::move(detail), 0};
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return Error{Code::kNotFound, "not_found", "Not found.", std::move(detail), 0};
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{Code::kUnavailable, "unavailable", "The database is busy; try again shortly.",
                   std::move(detail), 1};
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOTADB:
      return Error{Code::kUnavailable, "unavailable", "The database cannot be reached.",
                   std::move(detail), 0};
    default:
      return Error{Code::kInternal, "internal", "Something went wrong on our side.",
                   std::move(detail), 0};
  }
}

// One use of a cached statement: binds parameters in order, steps, reads columns, and resets
// the statement when it goes out of scope so the connection can reuse it.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Query() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query(Query&& o) noexcept
      : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), next_(o.next_), bind_rc_(o.bind_rc_) {}
  Query& operator=(Query&&) = delete;

  Query& bind_int(int64_t v) { return check(sqlite3_bind_int64(stmt_, ++next_, v)); }
  Query& bind_bool(bool v) { return bind_int(v ? 1 : 0); }
  Query& bind_text(std::string_view v) {
    return check(
        sqlite3_bind_text64(stmt_, ++next_, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Query& bind_blob(std::string_view v) {
    return check(sqlite3_bind_blob64(stmt_, ++next_, v.data(), v.size(), SQLITE_TRANSIENT));
  }

  // One step: true when a row is ready, false when the statement is done.
  core::Result<bool> step() {
    if (bind_rc_ != SQLITE_OK) {
      return tl::unexpected(to_error(db_, bind_rc_, sqlite3_sql(stmt_)));
    }
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
      return true;
    }
    if (rc == SQLITE_DONE) {
      return false;
    }
    return tl::unexpected(to_error(db_, rc, sqlite3_sql(stmt_)));
  }

  // Steps to the end, ignoring rows (RETURNING rows already read, or none expected).
  core::Status finish() {
    for (;;) {
      TS_ASSIGN_OR_RETURN(bool row, step());
      if (!row) {
        return core::ok();
      }
    }
  }

  // Runs the statement and returns how many rows it changed.
  core::Result<int> run() {
    TS_RETURN_IF_ERROR(finish());
    return sqlite3_changes(db_);
  }

  // Reads the first column of the first row; kNotFound when there is no row.
  core::Result<int64_t> scalar(const char* what) {
    TS_ASSIGN_OR_RETURN(bool row, step());
    if (!row) {
      return not_found(what);
    }
    int64_t v = col_int(0);
    TS_RETURN_IF_ERROR(finish());
    return v;
  }

  int64_t col_int(int i) const { return sqlite3_column_int64(stmt_, i); }
  bool col_bool(int i) const { return col_int(i) != 0; }
  std::string col_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, i));
  }
  std::string col_blob(int i) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, i));
  }

 private:
  Query& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) {
      bind_rc_ = rc;
    }
    return *this;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int next_ = 0;
  int bind_rc_ = SQLITE_OK;
};

core::Result<Query> prepare(Connection& c, std::string_view sql) {
  TS_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, c.prepare_cached(sql));
  return Query(c.get(), stmt);
}

// BEGIN IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so a
// transaction never fails half-way because another writer got there first.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(c) {}
  ~Transaction() {
    if (open_) {
      sqlite3_exec(c_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  core::Status begin() {
    TS_RETURN_IF_ERROR(c_.exec("BEGIN IMMEDIATE"));
    open_ = true;
    return core::ok();
  }
  core::Status commit() {
    TS_RETURN_IF_ERROR(c_.exec("COMMIT"));
    open_ = false;
    return core::ok();
  }

 private:
  Connection& c_;
  bool open_ = false;
};

// Reads exactly one row with `read`; kNotFound (naming `what`) when there is none.
template <class Read>
auto one(Query& q, Read read, const char* what) -> core::Result<decltype(read(q))> {
  TS_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) {
    return not_found(what);
  }
  auto value = read(q);
  TS_RETURN_IF_ERROR(q.finish());
  return value;
}

template <class Read>
auto all(Query& q, Read read) -> core::Result<std::vector<decltype(read(q))>> {
  std::vector<decltype(read(q))> rows;
  for (;;) {
    TS_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) {
      return rows;
    }
    rows.push_back(read(q));
  }
}

}  // namespace

// --- RAII handles ------------------------------------------------------------

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Connection::~Connection() { close(); }

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), cache_(std::move(other.cache_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

void Connection::close() {
  cache_.clear();  // statements must be finalized before their connection closes
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

core::Result<Connection> Connection::open(const std::string& filename, bool uri) {
  Connection c;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (uri) {
    flags |= SQLITE_OPEN_URI;
  }
  int rc = sqlite3_open_v2(filename.c_str(), &c.db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    return tl::unexpected(to_error(c.db_, rc, "open " + filename));
  }
  sqlite3_extended_result_codes(c.db_, 1);
  sqlite3_busy_timeout(c.db_, kBusyTimeoutMs);
  TS_RETURN_IF_ERROR(c.exec("PRAGMA foreign_keys = ON"));
  if (!uri) {
    TS_RETURN_IF_ERROR(c.exec("PRAGMA journal_mode = WAL"));
    TS_RETURN_IF_ERROR(c.exec("PRAGMA synchronous = NORMAL"));
  }
  return c;
}

core::Result<sqlite3_stmt*> Connection::prepare_cached(std::string_view sql) {
  std::string key(sql);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    return it->second.get();
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return tl::unexpected(to_error(db_, rc, sql));
  }
  return cache_.emplace(std::move(key), Statement(stmt)).first->second.get();
}

core::Status Connection::exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    // Migrations are long: name only their first line in the detail.
    std::string_view text(sql);
    return tl::unexpected(
        to_error(db_, rc, text.substr(0, std::min(text.find('\n'), text.size()))));
  }
  return core::ok();
}

// --- pool --------------------------------------------------------------------

class SqliteStore::Lease {
 public:
  Lease(SqliteStore& store, Connection* c, std::unique_lock<std::mutex> writer)
      : store_(store), c_(c), writer_(std::move(writer)) {}
  ~Lease() {
    // A verb that returned early inside a transaction must not hand the transaction on.
    if (!sqlite3_get_autocommit(c_->get())) {
      sqlite3_exec(c_->get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    store_.give_back(c_);
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  Connection& operator*() const { return *c_; }
  Connection* operator->() const { return c_; }

 private:
  SqliteStore& store_;
  Connection* c_;
  std::unique_lock<std::mutex> writer_;
};

SqliteStore::SqliteStore(std::vector<Connection> connections) {
  for (auto& c : connections) {
    connections_.push_back(std::make_unique<Connection>(std::move(c)));
    idle_.push_back(connections_.back().get());
  }
}

SqliteStore::~SqliteStore() = default;

SqliteStore::Lease SqliteStore::lease(Access access) {
  std::unique_lock<std::mutex> writer;
  if (access == Access::kWrite) {
    writer = std::unique_lock<std::mutex>(writer_mu_);  // before a connection: no lock cycle
  }
  std::unique_lock<std::mutex> lock(pool_mu_);
  pool_cv_.wait(lock, [this] { return !idle_.empty(); });
  Connection* c = idle_.back();
  idle_.pop_back();
  return Lease(*this, c, std::move(writer));
}

void SqliteStore::give_back(Connection* connection) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    idle_.push_back(connection);
  }
  pool_cv_.notify_one();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open_pool(const std::string& filename, bool uri,
                                                            int size) {
  std::vector<Connection> connections;
  for (int i = 0; i < size; ++i) {
    TS_ASSIGN_OR_RETURN(Connection c, Connection::open(filename, uri));
    connections.push_back(std::move(c));
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(connections)));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open_file(const std::string& path) {
  return open_pool(path, false, kFilePoolSize);
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open_memory() {
  // A uniquely named shared-cache database, so that each store is private. One connection:
  // under shared cache, SQLite reports table-lock conflicts as SQLITE_LOCKED, which the busy
  // timeout does not wait for, so several connections would fail under concurrent writes.
  static std::atomic<uint64_t> counter{0};
  std::string name =
      "file:twostep_mem_" + std::to_string(counter.fetch_add(1)) + "?mode=memory&cache=shared";
  return open_pool(name, true, 1);
}

// --- writes ------------------------------------------------------------------

namespace {

core::Result<int> run_write(Connection& c, const Write& w) {
  TS_ASSIGN_OR_RETURN(Query q, prepare(c, w.sql));
  for (const Param& p : w.params) {
    bind_param(q, p);
  }
  return q.run();
}

}  // namespace

Result<int> SqliteStore::write(const Write& w) {
  auto c = lease(Access::kWrite);
  return run_write(*c, w);
}

Result<std::vector<int>> SqliteStore::write_all(const std::vector<Write>& writes) {
  auto c = lease(Access::kWrite);
  return write_in_transaction<Transaction>(*c, writes, run_write);
}

// --- migrations --------------------------------------------------------------

Result<int> SqliteStore::migrate() {
  auto c = lease(Access::kWrite);
  TS_RETURN_IF_ERROR(
      c->exec("CREATE TABLE IF NOT EXISTS schema_version("
              "version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)"));
  int known = 0;
  for (const Migration& m : kSqliteMigrations) {
    known = std::max(known, m.version);
    // Check and apply under one write lock, so two processes starting together apply each
    // migration once.
    Transaction tx(*c);
    TS_RETURN_IF_ERROR(tx.begin());
    {
      TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                           "SELECT EXISTS(SELECT 1 FROM schema_version "
                                           "WHERE version = ?)"));
      q.bind_int(m.version);
      TS_ASSIGN_OR_RETURN(int64_t applied, q.scalar("schema version"));
      if (applied != 0) {
        continue;  // the transaction rolls back: nothing was written
      }
    }
    TS_RETURN_IF_ERROR(c->exec(m.sql));
    {
      TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                           "INSERT INTO schema_version(version, name, "
                                           "applied_at) VALUES(?, ?, unixepoch())"));
      q.bind_int(m.version).bind_text(m.name);
      TS_RETURN_IF_ERROR(q.run());
    }
    TS_RETURN_IF_ERROR(tx.commit());
  }
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT COALESCE(MAX(version), 0) FROM schema_version"));
  TS_ASSIGN_OR_RETURN(int64_t version, q.scalar("schema version"));
  if (version > known) {
    return core::fail(
        Code::kFailedPrecondition, "schema_too_new",
        "The database was written by a newer version of twostep.",
        "schema version " + std::to_string(version) + " > known " + std::to_string(known));
  }
  return static_cast<int>(version);
}

// --- users -------------------------------------------------------------------

Result<User> SqliteStore::create_user(const std::string& username, const std::string& password_hash,
                                      int64_t now) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "INSERT INTO users(username, password_hash, created_at) "
                                       "VALUES(?, ?, ?) RETURNING " TWOSTEP_USER_COLUMNS));
  q.bind_text(username).bind_text(password_hash).bind_int(now);
  auto user = one(q, read_user, "User");
  if (!user) {
    return refine(std::move(user.error()), Code::kAlreadyExists, "username_taken",
                  "That username is taken.");
  }
  return user;
}

Result<User> SqliteStore::user_by_name(const std::string& username) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_USER_COLUMNS " FROM users WHERE username = ?"));
  q.bind_text(username);
  return one(q, read_user, "User");
}

Result<User> SqliteStore::user_by_id(int64_t id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_USER_COLUMNS " FROM users WHERE id = ?"));
  q.bind_int(id);
  return one(q, read_user, "User");
}

Result<std::vector<User>> SqliteStore::list_users() {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_USER_COLUMNS " FROM users ORDER BY id"));
  return all(q, read_user);
}

Status SqliteStore::set_password_hash(int64_t user_id, const std::string& password_hash) {
  return expect_changed(
      write({"UPDATE users SET password_hash = ? WHERE id = ?", {Text{password_hash}, user_id}}),
      "User");
}

Status SqliteStore::set_user_disabled(int64_t user_id, bool disabled) {
  return expect_changed(
      write({"UPDATE users SET disabled = ? WHERE id = ?", {Bool{disabled}, user_id}}), "User");
}

Status SqliteStore::set_last_login(int64_t user_id, int64_t at) {
  return expect_changed(write({"UPDATE users SET last_login_at = ? WHERE id = ?", {at, user_id}}),
                        "User");
}

Result<std::string> SqliteStore::webauthn_user_handle(int64_t user_id,
                                                      const std::string& candidate) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "UPDATE users SET webauthn_handle = "
                                       "COALESCE(webauthn_handle, ?) WHERE id = ? "
                                       "RETURNING webauthn_handle"));
  q.bind_blob(candidate).bind_int(user_id);
  return one(q, read_blob, "User");
}

// --- master keys -------------------------------------------------------------

Result<int64_t> SqliteStore::pin_legacy_key_ids(uint32_t key_id) {
  TS_ASSIGN_OR_RETURN(std::vector<int> changed, write_all(pin_legacy_key_id_writes(key_id)));
  return std::accumulate(changed.begin(), changed.end(), int64_t{0});
}

Result<std::vector<KeyUse>> SqliteStore::key_usage(int64_t now) {
  auto c = lease(Access::kRead);
  std::vector<KeyUse> out;
  for (const KeyUsageQuery& k : kKeyUsageQueries) {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c, k.sql));
    if (k.takes_now) q.bind_int(now);
    TS_ASSIGN_OR_RETURN(auto rows, all(q, read_key_use(k)));
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return merge_key_uses(std::move(out));
}

Result<std::vector<KeyDependents>> SqliteStore::delete_recovery_codes_of_key(uint32_t key_id) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, kDeleteRecoveryCodesOfKey));
  q.bind_int(key_id);
  TS_ASSIGN_OR_RETURN(auto rows, all(q, read_deleted_code));
  return count_unused_by_user(rows);
}

Result<std::vector<AppPassword>> SqliteStore::app_passwords_of_key(uint32_t key_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, kAppPasswordsOfKey));
  q.bind_int(key_id);
  return all(q, read_app_password);
}

Result<int> SqliteStore::delete_live_sms_codes_of_key(uint32_t key_id, int64_t now) {
  return write({kDeleteLiveSmsCodesOfKey, {int64_t{key_id}, now}});
}

Result<std::vector<Method>> SqliteStore::methods_sealed_with_other_keys(uint32_t key_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, TWOSTEP_METHODS_SEALED_WITH_OTHER_KEYS));
  q.bind_blob(crypto::Keyring::sealed_header(key_id));
  return all(q, read_method);
}

Result<bool> SqliteStore::reseal_method_secret(int64_t method_id, const std::string& old_secret,
                                               const std::string& new_secret) {
  return changed_one(write({kResealMethodSecret, {Blob{new_secret}, method_id, Blob{old_secret}}}));
}

Result<bool> SqliteStore::reseal_yubikey_secret(const std::string& public_id,
                                                const std::string& old_secret,
                                                const std::string& new_secret) {
  return changed_one(
      write({kResealYubikeySecret, {Blob{new_secret}, Text{public_id}, Blob{old_secret}}}));
}

Result<std::vector<Method>> SqliteStore::methods_of_type(const std::string& type) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, kMethodsOfType));
  q.bind_text(type);
  return all(q, read_method);
}

Result<bool> SqliteStore::rekey_method_params(int64_t method_id, const std::string& old_params,
                                       const std::string& new_params) {
  return changed_one(write({kRekeyMethodParams, {Text{new_params}, method_id, Text{old_params}}}));
}

// --- sessions ----------------------------------------------------------------

Result<Session> SqliteStore::create_session(const Session& s) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(
      Query q,
      prepare(*c,
              "INSERT INTO sessions(token_hash, user_id, state, remember, created_at, "
              "last_seen_at, expires_at, absolute_expires_at, auth_at, failed_attempts, ip, "
              "user_agent) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
              "RETURNING " TWOSTEP_SESSION_COLUMNS));
  q.bind_text(s.token_hash)
      .bind_int(s.user_id)
      .bind_int(static_cast<int>(s.state))
      .bind_bool(s.remember)
      .bind_int(s.created_at)
      .bind_int(s.last_seen_at)
      .bind_int(s.expires_at)
      .bind_int(s.absolute_expires_at)
      .bind_int(s.auth_at)
      .bind_int(s.failed_attempts)
      .bind_text(s.ip)
      .bind_text(s.user_agent);
  auto session = one(q, read_session, "Session");
  if (!session) {
    return refine(std::move(session.error()), Code::kNotFound, "not_found", "User not found.");
  }
  return session;
}

Result<Session> SqliteStore::session_by_token_hash(const std::string& token_hash) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_SESSION_COLUMNS
                                           " FROM sessions WHERE token_hash = ?"));
  q.bind_text(token_hash);
  return one(q, read_session, "Session");
}

Result<Session> SqliteStore::session_by_id(int64_t id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_SESSION_COLUMNS " FROM sessions WHERE id = ?"));
  q.bind_int(id);
  return one(q, read_session, "Session");
}

Result<std::vector<Session>> SqliteStore::sessions_of_user(int64_t user_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_SESSION_COLUMNS
                                           " FROM sessions WHERE user_id = ? ORDER BY id"));
  q.bind_int(user_id);
  return all(q, read_session);
}

Status SqliteStore::touch_session(int64_t id, int64_t now, int64_t new_expires_at) {
  return expect_changed(write({"UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?",
                               {now, new_expires_at, id}}),
                        "Session");
}

Status SqliteStore::upgrade_session(int64_t id, const std::string& new_token_hash,
                                    SessionState state, int64_t auth_at, int64_t expires_at) {
  return expect_changed(
      write({"UPDATE sessions SET token_hash = ?, state = ?, "
             "auth_at = ?, expires_at = ? WHERE id = ?",
             {Text{new_token_hash}, static_cast<int>(state), auth_at, expires_at, id}}),
      "Session");
}

Result<int> SqliteStore::add_session_failure(int64_t id) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "UPDATE sessions SET failed_attempts = "
                                       "failed_attempts + 1 WHERE id = ? "
                                       "RETURNING failed_attempts"));
  q.bind_int(id);
  TS_ASSIGN_OR_RETURN(int64_t count, q.scalar("Session"));
  return static_cast<int>(count);
}

Status SqliteStore::delete_session(int64_t id) {
  return expect_changed(write({"DELETE FROM sessions WHERE id = ?", {id}}), "Session");
}

Status SqliteStore::delete_user_session(int64_t user_id, int64_t id) {
  return expect_changed(write({"DELETE FROM sessions WHERE id = ? AND user_id = ?", {id, user_id}}),
                        "Session");
}

Result<int> SqliteStore::delete_sessions_of_user(int64_t user_id, int64_t keep_id) {
  return write({"DELETE FROM sessions WHERE user_id = ? AND id <> ?", {user_id, keep_id}});
}

Result<int> SqliteStore::clear_auth_times(int64_t user_id) {
  return write({"UPDATE sessions SET auth_at = 0 WHERE user_id = ?", {user_id}});
}

Result<int> SqliteStore::delete_expired_sessions(int64_t now) {
  return write(
      {"DELETE FROM sessions WHERE expires_at <= ? "
       "OR absolute_expires_at <= ?",
       {now, now}});
}

// --- audit -------------------------------------------------------------------

Status SqliteStore::append_audit(const AuditEvent& e) {
  TS_RETURN_IF_ERROR(
      write({"INSERT INTO audit(user_id, at, event, ip, "
             "user_agent, detail) VALUES(?, ?, ?, ?, ?, ?)",
             {e.user_id, e.at, Text{e.event}, Text{e.ip}, Text{e.user_agent}, Text{e.detail}}}));
  return core::ok();
}

Result<std::vector<AuditEvent>> SqliteStore::audit_of_user(int64_t user_id, int limit) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_AUDIT_COLUMNS " FROM audit WHERE user_id = ? "
                                  "ORDER BY at DESC, id DESC LIMIT ?"));
  q.bind_int(user_id).bind_int(limit > 0 ? limit : -1);  // SQLite: LIMIT -1 = no limit
  return all(q, read_audit);
}

Result<std::vector<AuditEvent>> SqliteStore::site_audit(const AuditFilter& filter) {
  TS_RETURN_IF_ERROR(check_audit_limit(filter.limit));
  auto c = lease(Access::kRead);
  // One statement for every combination of filters: an absent one is -1 (user) or '' (event).
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_SITE_AUDIT_COLUMNS
                                           " FROM audit a LEFT JOIN users u ON u.id = a.user_id "
                                           "WHERE (?1 < 0 OR a.user_id = ?1) "
                                           "AND (?2 = '' OR a.event = ?2) AND a.at >= ?3 "
                                           "ORDER BY a.at DESC, a.id DESC LIMIT ?4"));
  q.bind_int(filter.user_id.value_or(-1))
      .bind_text(filter.event)
      .bind_int(filter.since)
      .bind_int(filter.limit);
  return all(q, read_site_audit);
}

// --- throttles ---------------------------------------------------------------

Result<Throttle> SqliteStore::throttle_get(const std::string& key) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(
      Query q, prepare(*c, "SELECT " TWOSTEP_THROTTLE_COLUMNS " FROM throttles WHERE key = ?"));
  q.bind_text(key);
  TS_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) {
    return Throttle{key, 0, 0, 0};
  }
  Throttle t = read_throttle(q);
  TS_RETURN_IF_ERROR(q.finish());
  return t;
}

Result<Throttle> SqliteStore::throttle_hit(const std::string& key, int64_t now, int window_s,
                                           int max, int lock_s) {
  // ?1 key, ?2 now, ?3 window_s, ?4 max, ?5 lock_s. In DO UPDATE every bare column is the
  // row before the write. A lock starts when the new count reaches max and no lock is running
  // (hits during a lock do not extend it); a lock survives a window restart; an expired lock
  // reads back as 0.
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(
      Query q,
      prepare(*c,
              "INSERT INTO throttles(key, window_start, hit_count, locked_until) "
              "VALUES(?1, ?2, 1, CASE WHEN 1 >= ?4 THEN ?2 + ?5 ELSE 0 END) "
              "ON CONFLICT(key) DO UPDATE SET "
              "window_start = CASE WHEN ?2 - window_start >= ?3 THEN ?2 ELSE window_start END, "
              "hit_count = CASE WHEN ?2 - window_start >= ?3 THEN 1 ELSE hit_count + 1 END, "
              "locked_until = CASE "
              "WHEN locked_until <= ?2 AND "
              "(CASE WHEN ?2 - window_start >= ?3 THEN 1 ELSE hit_count + 1 END) >= ?4 "
              "THEN ?2 + ?5 "
              "WHEN locked_until <= ?2 THEN 0 "
              "ELSE locked_until END "
              "RETURNING " TWOSTEP_THROTTLE_COLUMNS));
  q.bind_text(key).bind_int(now).bind_int(window_s).bind_int(max).bind_int(lock_s);
  return one(q, read_throttle, "Throttle");
}

Status SqliteStore::throttle_clear(const std::string& key) {
  TS_RETURN_IF_ERROR(write({"DELETE FROM throttles WHERE key = ?", {Text{key}}}));
  return core::ok();
}

// --- methods -----------------------------------------------------------------

Result<Method> SqliteStore::create_method(const Method& m) {
  // A method created already confirmed (e.g. a verified security key) follows the same
  // default rule as confirm_method, and takes the default when m.is_default asks for it.
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  bool make_default = false;
  if (m.confirmed) {
    int64_t has_default = 0;
    {
      TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                           "SELECT EXISTS(SELECT 1 FROM methods "
                                           "WHERE user_id = ? AND is_default = 1)"));
      q.bind_int(m.user_id);
      TS_ASSIGN_OR_RETURN(has_default, q.scalar("Method"));
    }
    make_default = m.is_default || has_default == 0;
    if (make_default && has_default != 0) {
      TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                           "UPDATE methods SET is_default = 0 "
                                           "WHERE user_id = ? AND is_default = 1"));
      q.bind_int(m.user_id);
      TS_RETURN_IF_ERROR(q.run());
    }
  }
  Method created;
  {
    TS_ASSIGN_OR_RETURN(
        Query q,
        prepare(*c,
                "INSERT INTO methods(user_id, type, label, secret, params, lookup, confirmed, "
                "is_default, created_at, confirmed_at, last_used_at, last_step) "
                "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING " TWOSTEP_METHOD_COLUMNS));
    q.bind_int(m.user_id)
        .bind_text(m.type)
        .bind_text(m.label)
        .bind_blob(m.secret)
        .bind_text(m.params)
        .bind_text(m.lookup)
        .bind_bool(m.confirmed)
        .bind_bool(make_default)
        .bind_int(m.created_at)
        .bind_int(m.confirmed ? m.created_at : 0)
        .bind_int(m.last_used_at)
        .bind_int(m.last_step);
    auto row = one(q, read_method, "Method");
    if (!row) {
      Error e = std::move(row.error());
      if (e.code == Code::kNotFound) {
        return refine(std::move(e), Code::kNotFound, "not_found", "User not found.");
      }
      return refine(std::move(e), Code::kAlreadyExists, "method_exists",
                    "That method is already registered.");
    }
    created = std::move(*row);
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return created;
}

Result<std::vector<Method>> SqliteStore::methods_of_user(int64_t user_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(
      Query q, prepare(*c, "SELECT " TWOSTEP_METHOD_COLUMNS " FROM methods WHERE user_id = ? "
                           "ORDER BY created_at, id"));
  q.bind_int(user_id);
  return all(q, read_method);
}

Result<Method> SqliteStore::method_of_user(int64_t user_id, int64_t method_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_METHOD_COLUMNS
                                           " FROM methods WHERE id = ? AND user_id = ?"));
  q.bind_int(method_id).bind_int(user_id);
  return one(q, read_method, "Method");
}

Result<Method> SqliteStore::method_by_lookup(const std::string& type, const std::string& lookup) {
  auto c = lease(Access::kRead);
  // "lookup <> ''" lets the planner use the partial unique index, and makes an empty lookup
  // match nothing.
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_METHOD_COLUMNS
                                           " FROM methods WHERE type = ? AND lookup = ? "
                                           "AND lookup <> ''"));
  q.bind_text(type).bind_text(lookup);
  return one(q, read_method, "Method");
}

Status SqliteStore::confirm_method(int64_t user_id, int64_t method_id, int64_t now) {
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  {
    TS_ASSIGN_OR_RETURN(Query q,
                        prepare(*c,
                                "UPDATE methods SET confirmed = 1, confirmed_at = CASE WHEN "
                                "confirmed = 1 THEN confirmed_at ELSE ? END "
                                "WHERE id = ? AND user_id = ?"));
    q.bind_int(now).bind_int(method_id).bind_int(user_id);
    TS_RETURN_IF_ERROR(expect_changed(q.run(), "Method"));
  }
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "UPDATE methods SET is_default = 1 WHERE id = ? "
                                         "AND NOT EXISTS(SELECT 1 FROM methods WHERE "
                                         "user_id = ? AND is_default = 1)"));
    q.bind_int(method_id).bind_int(user_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  return tx.commit();
}

Status SqliteStore::rename_method(int64_t user_id, int64_t method_id, const std::string& label) {
  return expect_changed(write({"UPDATE methods SET label = ? WHERE id = ? AND user_id = ?",
                               {Text{label}, method_id, user_id}}),
                        "Method");
}

Status SqliteStore::set_default_method(int64_t user_id, int64_t method_id) {
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  {
    TS_ASSIGN_OR_RETURN(Query q,
                        prepare(*c, "SELECT confirmed FROM methods WHERE id = ? AND user_id = ?"));
    q.bind_int(method_id).bind_int(user_id);
    TS_ASSIGN_OR_RETURN(int64_t confirmed, q.scalar("Method"));
    if (confirmed == 0) {
      return core::fail(Code::kFailedPrecondition, "method_not_confirmed",
                        "Confirm this method before making it the default.");
    }
  }
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "UPDATE methods SET is_default = 0 "
                                         "WHERE user_id = ? AND is_default = 1 AND id <> ?"));
    q.bind_int(user_id).bind_int(method_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "UPDATE methods SET is_default = 1 WHERE id = ?"));
    q.bind_int(method_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  return tx.commit();
}

Status SqliteStore::delete_method(int64_t user_id, int64_t method_id) {
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  int64_t was_default = 0;
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "DELETE FROM methods WHERE id = ? AND user_id = ? "
                                         "RETURNING is_default"));
    q.bind_int(method_id).bind_int(user_id);
    TS_ASSIGN_OR_RETURN(was_default, q.scalar("Method"));
  }
  if (was_default != 0) {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "UPDATE methods SET is_default = 1 WHERE id = "
                                         "(SELECT id FROM methods WHERE user_id = ? AND "
                                         "confirmed = 1 ORDER BY created_at, id LIMIT 1)"));
    q.bind_int(user_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  return tx.commit();
}

Result<int> SqliteStore::delete_all_methods(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(std::vector<int> changed,
                      write_all({{"DELETE FROM methods WHERE user_id = ?", {user_id}},
                                 {"DELETE FROM recovery_codes WHERE user_id = ?", {user_id}}}));
  return changed[0];
}

Result<int> SqliteStore::delete_unconfirmed_methods(int64_t created_before) {
  // Unconfirmed methods are never the default, so nothing needs promoting.
  return write(
      {"DELETE FROM methods WHERE confirmed = 0 "
       "AND created_at < ?",
       {created_before}});
}

Status SqliteStore::update_method_params(int64_t user_id, int64_t method_id,
                                         const std::string& params) {
  return expect_changed(write({"UPDATE methods SET params = ? WHERE id = ? AND user_id = ?",
                               {Text{params}, method_id, user_id}}),
                        "Method");
}

Result<bool> SqliteStore::advance_method_step(int64_t method_id, int64_t step, int64_t now) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query update, prepare(*c,
                                            "UPDATE methods SET last_step = ?, last_used_at = ? "
                                            "WHERE id = ? AND last_step < ?"));
  update.bind_int(step).bind_int(now).bind_int(method_id).bind_int(step);
  TS_ASSIGN_OR_RETURN(Query exists, prepare(*c, "SELECT 1 FROM methods WHERE id = ?"));
  exists.bind_int(method_id);
  return won_or_spent(update, exists, "Method");
}

Status SqliteStore::touch_method(int64_t method_id, int64_t now) {
  return expect_changed(
      write({"UPDATE methods SET last_used_at = ? WHERE id = ?", {now, method_id}}), "Method");
}

// --- recovery codes ----------------------------------------------------------

Status SqliteStore::replace_recovery_codes(int64_t user_id, const std::vector<std::string>& hashes,
                                           uint32_t key_id, int64_t now) {
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT 1 FROM users WHERE id = ?"));
    q.bind_int(user_id);
    TS_RETURN_IF_ERROR(q.scalar("User"));
  }
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "DELETE FROM recovery_codes WHERE user_id = ?"));
    q.bind_int(user_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  for (const std::string& hash : hashes) {
    // A repeated hash is stored once (UNIQUE), so it can still be used only once.
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "INSERT OR IGNORE INTO recovery_codes(user_id, "
                                         "hash, created_at, key_id) VALUES(?, ?, ?, ?)"));
    q.bind_int(user_id).bind_text(hash).bind_int(now).bind_int(key_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  return tx.commit();
}

Result<std::vector<uint32_t>> SqliteStore::recovery_code_key_ids(int64_t user_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "SELECT DISTINCT key_id FROM recovery_codes "
                                       "WHERE user_id = ? AND used_at IS NULL ORDER BY key_id"));
  q.bind_int(user_id);
  return all(q, read_key_id);
}

Result<bool> SqliteStore::use_recovery_code(int64_t user_id, uint32_t key_id,
                                            const std::string& hash, int64_t now) {
  return changed_one(
      write({"UPDATE recovery_codes SET used_at = ? WHERE user_id = ? "
             "AND key_id = ? AND hash = ? AND used_at IS NULL",
             {now, user_id, key_id, Text{hash}}}));
}

Result<int> SqliteStore::remaining_recovery_codes(int64_t user_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "SELECT COUNT(*) FROM recovery_codes "
                                       "WHERE user_id = ? AND used_at IS NULL"));
  q.bind_int(user_id);
  TS_ASSIGN_OR_RETURN(int64_t n, q.scalar("Recovery codes"));
  return static_cast<int>(n);
}

// --- organisations -----------------------------------------------------------

namespace {

// The confirmed method types of the member, as "a,b".
#define TWOSTEP_ORG_MEMBER_COLUMNS                           \
  TWOSTEP_ORG_MEMBER_SELECT(                                 \
      "SELECT group_concat(DISTINCT t.type) FROM methods t " \
      "WHERE t.user_id = m.user_id AND t.confirmed = 1")

// After a conditional write on a membership changed nothing: was it not a member, or the
// only owner?
core::Status why_membership_unchanged(Connection& c, int64_t org_id, int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Query q, prepare(c,
                                       "SELECT EXISTS(SELECT 1 FROM org_members "
                                       "WHERE org_id = ? AND user_id = ?)"));
  q.bind_int(org_id).bind_int(user_id);
  TS_ASSIGN_OR_RETURN(int64_t member, q.scalar("Member"));
  return membership_refusal(member != 0);
}

// Runs a membership write that must not remove the last owner (the statement's own condition,
// under the write lock) and explains a refusal.
core::Status owner_safe_write(Connection& c, const Write& w, int64_t org_id, int64_t user_id) {
  Transaction tx(c);
  TS_RETURN_IF_ERROR(tx.begin());
  TS_ASSIGN_OR_RETURN(int changed, run_write(c, w));
  if (changed == 0) {
    return why_membership_unchanged(c, org_id, user_id);
  }
  return tx.commit();
}

}  // namespace

Result<Org> SqliteStore::create_org(const std::string& name, int64_t owner_id, int64_t now) {
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  Org org;
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "INSERT INTO orgs(name, created_at) VALUES(?, ?) "
                                         "RETURNING " TWOSTEP_ORG_COLUMNS));
    q.bind_text(name).bind_int(now);
    auto row = one(q, read_org, "Organisation");
    if (!row) {
      return refine(std::move(row.error()), Code::kAlreadyExists, "org_name_taken",
                    "An organisation with that name exists already.");
    }
    org = std::move(*row);
  }
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "INSERT INTO org_members(org_id, user_id, role, "
                                         "added_at) VALUES(?, ?, 'owner', ?)"));
    q.bind_int(org.id).bind_int(owner_id).bind_int(now);
    auto st = q.run();
    if (!st) {
      return refine(std::move(st.error()), Code::kNotFound, "not_found", "User not found.");
    }
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return org;
}

Result<Org> SqliteStore::org_by_id(int64_t id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_ORG_COLUMNS " FROM orgs WHERE id = ?"));
  q.bind_int(id);
  return one(q, read_org, "Organisation");
}

Result<Org> SqliteStore::org_by_name(const std::string& name) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_ORG_COLUMNS " FROM orgs WHERE name = ?"));
  q.bind_text(name);
  return one(q, read_org, "Organisation");
}

Result<std::vector<Org>> SqliteStore::list_orgs() {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_ORG_COLUMNS " FROM orgs ORDER BY id"));
  return all(q, read_org);
}

Result<std::vector<OrgMembership>> SqliteStore::orgs_of_user(int64_t user_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "SELECT o.id, o.name, o.created_at, o.require_2fa, "
                                       "o.grace_days, o.policy_since, m.role, m.added_at "
                                       "FROM org_members m JOIN orgs o ON o.id = m.org_id "
                                       "WHERE m.user_id = ? ORDER BY o.id"));
  q.bind_int(user_id);
  return all(q, [](const Query& r) {
    return OrgMembership{read_org_at(r, 0), read_org_role(r, 6), r.col_int(7)};
  });
}

Result<std::vector<OrgMember>> SqliteStore::org_members(int64_t org_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_ORG_MEMBER_COLUMNS
                                           " WHERE m.org_id = ? ORDER BY u.username"));
  q.bind_int(org_id);
  return all(q, read_org_member);
}

Result<OrgMember> SqliteStore::org_member(int64_t org_id, int64_t user_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_ORG_MEMBER_COLUMNS
                                           " WHERE m.org_id = ? AND m.user_id = ?"));
  q.bind_int(org_id).bind_int(user_id);
  return one(q, read_org_member, "Member");
}

Status SqliteStore::add_org_member(int64_t org_id, int64_t user_id, OrgRole role, int64_t now) {
  auto st =
      write({"INSERT INTO org_members(org_id, user_id, role, added_at) "
             "VALUES(?, ?, ?, ?)",
             {org_id, user_id, Text{org_role_name(role)}, now}});
  if (!st) {
    return refine(std::move(st.error()), Code::kAlreadyExists, "already_member",
                  "That user is a member already.");
  }
  return core::ok();
}

Status SqliteStore::set_org_member_role(int64_t org_id, int64_t user_id, OrgRole role) {
  // ?1 role, ?2 org, ?3 user. The owner count is read inside the same UPDATE, which holds the
  // write lock, so two owners demoting each other at once cannot both succeed.
  auto c = lease(Access::kWrite);
  return owner_safe_write(*c,
                          {"UPDATE org_members SET role = ?1 "
                           "WHERE org_id = ?2 AND user_id = ?3 AND "
                           "(role <> 'owner' OR ?1 = 'owner' OR "
                           "(SELECT COUNT(*) FROM org_members "
                           "WHERE org_id = ?2 AND role = 'owner') > 1)",
                           {Text{org_role_name(role)}, org_id, user_id}},
                          org_id, user_id);
}

Status SqliteStore::remove_org_member(int64_t org_id, int64_t user_id) {
  auto c = lease(Access::kWrite);
  return owner_safe_write(*c,
                          {"DELETE FROM org_members WHERE org_id = ?1 AND "
                           "user_id = ?2 AND (role <> 'owner' OR "
                           "(SELECT COUNT(*) FROM org_members "
                           "WHERE org_id = ?1 AND role = 'owner') > 1)",
                           {org_id, user_id}},
                          org_id, user_id);
}

Result<Org> SqliteStore::set_org_policy(int64_t org_id, bool require_2fa, int grace_days,
                                        int64_t now) {
  // ?1 require, ?2 grace, ?3 now, ?4 org. Bare columns are the row before the write.
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "UPDATE orgs SET require_2fa = ?1, grace_days = ?2, "
                                       "policy_since = CASE WHEN ?1 = 0 THEN 0 "
                                       "WHEN require_2fa = 1 THEN policy_since ELSE ?3 END "
                                       "WHERE id = ?4 RETURNING " TWOSTEP_ORG_COLUMNS));
  q.bind_bool(require_2fa).bind_int(grace_days).bind_int(now).bind_int(org_id);
  return one(q, read_org, "Organisation");
}

Status SqliteStore::append_org_audit(const OrgAuditEvent& e) {
  TS_RETURN_IF_ERROR(
      write({"INSERT INTO org_audit(org_id, at, actor_id, subject_id, "
             "event, ip, user_agent, detail) "
             "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
             {e.org_id, e.at, e.actor_id, e.subject_id, Text{e.event}, Text{e.ip},
              Text{e.user_agent}, Text{e.detail}}}));
  return core::ok();
}

Result<std::vector<OrgAuditEvent>> SqliteStore::org_audit(int64_t org_id, int limit) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_ORG_AUDIT_COLUMNS " FROM org_audit a "
                                  "LEFT JOIN users actor ON actor.id = a.actor_id "
                                  "LEFT JOIN users subject ON subject.id = a.subject_id "
                                  "WHERE a.org_id = ? ORDER BY a.at DESC, a.id DESC LIMIT ?"));
  q.bind_int(org_id).bind_int(limit > 0 ? limit : -1);
  return all(q, read_org_audit);
}

namespace {

// Moves every session of the user in state `from` to `to` while the user has no confirmed method.
Write move_sessions_without_2fa(int64_t user_id, SessionState from, SessionState to) {
  return {
      "UPDATE sessions SET state = ?1 WHERE user_id = ?2 AND "
      "state = ?3 AND NOT EXISTS(SELECT 1 FROM methods "
      "WHERE user_id = ?2 AND confirmed = 1)",
      {static_cast<int>(to), user_id, static_cast<int>(from)}};
}

}  // namespace

Result<int> SqliteStore::restrict_sessions_without_2fa(int64_t user_id) {
  return write(
      move_sessions_without_2fa(user_id, SessionState::kFull, SessionState::kEnrollmentRequired));
}

Result<int> SqliteStore::lift_restricted_sessions(int64_t user_id) {
  return write(
      move_sessions_without_2fa(user_id, SessionState::kEnrollmentRequired, SessionState::kFull));
}

// --- security keys -----------------------------------------------------------

Result<int> SqliteStore::import_yubikeys(const std::vector<YubikeyRecord>& keys, bool replace,
                                         int64_t now) {
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  int added = 0;
  for (const YubikeyRecord& k : keys) {
    int64_t exists = 0;
    {
      TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                           "SELECT EXISTS(SELECT 1 FROM yubikeys "
                                           "WHERE public_id = ?)"));
      q.bind_text(k.public_id);
      TS_ASSIGN_OR_RETURN(exists, q.scalar("YubiKey"));
    }
    if (exists != 0 && !replace) {
      return core::fail(Code::kAlreadyExists, "yubikey_exists",
                        "A YubiKey with public id " + k.public_id + " is already imported.");
    }
    // A reprogrammed key (replace) starts its counter again.
    TS_ASSIGN_OR_RETURN(Query q,
                        prepare(*c, exists != 0 ? "UPDATE yubikeys SET secret = ?, imported_at = "
                                                  "?, last_counter = -1, last_used_at = 0 "
                                                  "WHERE public_id = ?"
                                                : "INSERT INTO yubikeys(secret, imported_at, "
                                                  "public_id) VALUES(?, ?, ?)"));
    q.bind_blob(k.secret).bind_int(now).bind_text(k.public_id);
    TS_RETURN_IF_ERROR(q.run());
    added += exists != 0 ? 0 : 1;
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return added;
}

Result<YubikeyRecord> SqliteStore::yubikey_by_public_id(const std::string& public_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(
      Query q, prepare(*c, "SELECT " TWOSTEP_YUBIKEY_COLUMNS " FROM yubikeys WHERE public_id = ?"));
  q.bind_text(public_id);
  return one(q, read_yubikey, "YubiKey");
}

Result<std::vector<YubikeyRecord>> SqliteStore::list_yubikeys() {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(
      Query q, prepare(*c, "SELECT " TWOSTEP_YUBIKEY_COLUMNS " FROM yubikeys ORDER BY public_id"));
  return all(q, read_yubikey);
}

Result<bool> SqliteStore::advance_yubikey_counter(const std::string& public_id, int64_t counter,
                                                  int64_t now) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query update,
                      prepare(*c,
                              "UPDATE yubikeys SET last_counter = ?, last_used_at = ? "
                              "WHERE public_id = ? AND last_counter < ?"));
  update.bind_int(counter).bind_int(now).bind_text(public_id).bind_int(counter);
  TS_ASSIGN_OR_RETURN(Query exists, prepare(*c, "SELECT 1 FROM yubikeys WHERE public_id = ?"));
  exists.bind_text(public_id);
  return won_or_spent(update, exists, "YubiKey");
}

Status SqliteStore::put_webauthn_challenge(int64_t session_id, const std::string& purpose,
                                           const std::string& challenge, int64_t expires_at) {
  auto r =
      write({"INSERT INTO webauthn_challenges(session_id, purpose, "
             "challenge, expires_at) VALUES(?1, ?2, ?3, ?4) "
             "ON CONFLICT(session_id, purpose) DO UPDATE SET "
             "challenge = ?3, expires_at = ?4",
             {session_id, Text{purpose}, Blob{challenge}, expires_at}});
  if (!r) {
    return refine(std::move(r.error()), Code::kNotFound, "not_found", "Session not found.");
  }
  return core::ok();
}

Result<std::string> SqliteStore::take_webauthn_challenge(int64_t session_id,
                                                         const std::string& purpose, int64_t now) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "DELETE FROM webauthn_challenges WHERE session_id = ? "
                                       "AND purpose = ? RETURNING challenge, expires_at"));
  q.bind_int(session_id).bind_text(purpose);
  TS_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) {
    return not_found("Challenge");
  }
  std::string challenge = q.col_blob(0);
  int64_t expires_at = q.col_int(1);
  TS_RETURN_IF_ERROR(q.finish());
  if (expires_at <= now) {
    return not_found("Challenge");
  }
  return challenge;
}

Result<int> SqliteStore::delete_expired_webauthn_challenges(int64_t now) {
  return write({"DELETE FROM webauthn_challenges WHERE expires_at <= ?", {now}});
}

// --- SMS codes (issue 6) -----------------------------------------------------

Result<SmsReservation> SqliteStore::sms_reserve(const SmsCode& code, int cooldown_s, int64_t day,
                                                const std::vector<SmsQuota>& quotas) {
  // Under BEGIN IMMEDIATE the checks and the writes are one atomic step: two requests racing
  // for the last unit of a quota, or for the same number inside the cool-down, cannot both
  // pass.
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  SmsReservation out;
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "SELECT COALESCE(MAX(created_at), 0) FROM sms_codes "
                                         "WHERE user_id = ? AND number_hash = ? AND purpose = ?"));
    q.bind_int(code.user_id).bind_text(code.number_hash).bind_text(code.purpose);
    TS_ASSIGN_OR_RETURN(int64_t newest, q.scalar("SMS code"));
    if (newest > 0 && code.created_at - newest < cooldown_s) {
      out.retry_after_s = newest + cooldown_s - code.created_at;
      return out;  // rolls back: nothing was written
    }
  }
  for (const SmsQuota& quota : quotas) {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "SELECT COALESCE((SELECT count FROM sms_quotas "
                                         "WHERE key = ? AND day = ?), 0)"));
    q.bind_text(quota.key).bind_int(day);
    TS_ASSIGN_OR_RETURN(int64_t count, q.scalar("SMS quota"));
    if (count >= quota.limit) {
      out.over_quota = quota.key;
      return out;
    }
  }
  for (const SmsQuota& quota : quotas) {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "INSERT INTO sms_quotas(key, day, count) VALUES(?, ?, 1) "
                                         "ON CONFLICT(key, day) DO UPDATE SET count = count + 1"));
    q.bind_text(quota.key).bind_int(day);
    TS_RETURN_IF_ERROR(q.run());
  }
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "INSERT INTO sms_codes(user_id, method_id, purpose, "
                                         "number_hash, code_hash, created_at, expires_at, "
                                         "key_id) VALUES(?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"));
    q.bind_int(code.user_id)
        .bind_int(code.method_id)
        .bind_text(code.purpose)
        .bind_text(code.number_hash)
        .bind_text(code.code_hash)
        .bind_int(code.created_at)
        .bind_int(code.expires_at)
        .bind_int(code.key_id);
    auto id = q.scalar("SMS code");
    if (!id) {
      return refine(std::move(id.error()), Code::kNotFound, "not_found", "User not found.");
    }
    out.code_id = *id;
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return out;
}

Status SqliteStore::sms_mark_sent(int64_t code_id) {
  return expect_changed(write({"UPDATE sms_codes SET sent = 1 WHERE id = ?", {code_id}}),
                        "SMS code");
}

Status SqliteStore::sms_cancel(int64_t code_id, int64_t day,
                               const std::vector<std::string>& quota_keys) {
  std::vector<Write> writes{{"DELETE FROM sms_codes WHERE id = ?", {code_id}}};
  for (const std::string& key : quota_keys) {
    writes.push_back(
        {"UPDATE sms_quotas SET count = count - 1 "
         "WHERE key = ? AND day = ? AND count > 0",
         {Text{key}, day}});
  }
  TS_RETURN_IF_ERROR(write_all(writes));
  return core::ok();
}

Result<SmsCode> SqliteStore::sms_latest_code(int64_t user_id, int64_t method_id,
                                             const std::string& purpose) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_SMS_CODE_COLUMNS
                                           " FROM sms_codes WHERE user_id = ?1 AND purpose = ?2 "
                                           "AND sent = 1 AND (?3 = 0 OR method_id = ?3) "
                                           "ORDER BY id DESC LIMIT 1"));
  q.bind_int(user_id).bind_text(purpose).bind_int(method_id);
  return one(q, read_sms_code, "SMS code");
}

Result<bool> SqliteStore::sms_spend_attempt(int64_t code_id, int max_attempts, int64_t now) {
  return changed_one(
      write({"UPDATE sms_codes SET attempts = attempts + 1 "
             "WHERE id = ? AND sent = 1 AND used_at = 0 "
             "AND expires_at > ? AND attempts < ?",
             {code_id, now, max_attempts}}));
}

Result<bool> SqliteStore::sms_consume(int64_t code_id, int64_t now) {
  return changed_one(
      write({"UPDATE sms_codes SET used_at = ? WHERE id = ? "
             "AND sent = 1 AND used_at = 0 AND expires_at > ?",
             {now, code_id, now}}));
}

Result<int> SqliteStore::sms_purge(int64_t created_before, int64_t before_day) {
  TS_ASSIGN_OR_RETURN(std::vector<int> changed,
                      write_all({{"DELETE FROM sms_codes WHERE created_at < ?", {created_before}},
                                 {"DELETE FROM sms_quotas WHERE day < ?", {before_day}}}));
  return changed[0];
}

// --- application passwords ---------------------------------------------------

Result<AppPassword> SqliteStore::create_app_password(const AppPassword& p, int max_per_user) {
  // The limit and the insert are one statement, so two concurrent creations at max - 1 can
  // never both succeed.
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(
      Query q, prepare(*c,
                       "INSERT INTO app_passwords(user_id, name, scopes, lookup, hash, key_id, "
                       "created_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE "
                       "(SELECT COUNT(*) FROM app_passwords WHERE user_id = ?1) < ?8 "
                       "RETURNING " TWOSTEP_APP_PASSWORD_COLUMNS));
  q.bind_int(p.user_id)
      .bind_text(p.name)
      .bind_text(p.scopes)
      .bind_text(p.lookup)
      .bind_text(p.hash)
      .bind_int(p.key_id)
      .bind_int(p.created_at)
      .bind_int(max_per_user);
  auto row = q.step();
  if (!row) {
    Error e = std::move(row.error());
    if (e.code == Code::kNotFound) {
      return refine(std::move(e), Code::kNotFound, "not_found", "User not found.");
    }
    return refine(std::move(e), Code::kAlreadyExists, "already_exists",
                  "That application password already exists.");
  }
  if (!*row) {
    return core::fail(Code::kFailedPrecondition, "too_many_app_passwords",
                      "You have " + std::to_string(max_per_user) +
                          " application passwords, the most allowed. Revoke one you no "
                          "longer use first.");
  }
  AppPassword created = read_app_password(q);
  TS_RETURN_IF_ERROR(q.finish());
  return created;
}

Result<std::vector<AppPassword>> SqliteStore::app_passwords_of_user(int64_t user_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_APP_PASSWORD_COLUMNS
                                           " FROM app_passwords WHERE user_id = ? "
                                           "ORDER BY created_at, id"));
  q.bind_int(user_id);
  return all(q, read_app_password);
}

Result<std::pair<User, AppPassword>> SqliteStore::app_password_for_login(
    const std::string& username, const std::string& lookup) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_USER_AND_APP_PASSWORD_COLUMNS
                                           " FROM users u JOIN app_passwords a ON a.user_id = u.id "
                                           "WHERE u.username = ? AND a.lookup = ?"));
  q.bind_text(username).bind_text(lookup);
  return one(q, read_user_and_app_password, "Application password");
}

Status SqliteStore::touch_app_password(int64_t id, int64_t now, const std::string& ip) {
  return expect_changed(write({"UPDATE app_passwords SET last_used_at = ?, "
                               "last_used_ip = ? WHERE id = ?",
                               {now, Text{ip}, id}}),
                        "Application password");
}

Result<AppPassword> SqliteStore::delete_app_password(int64_t user_id, int64_t id) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "DELETE FROM app_passwords WHERE id = ? AND user_id = ? "
                                       "RETURNING " TWOSTEP_APP_PASSWORD_COLUMNS));
  q.bind_int(id).bind_int(user_id);
  return one(q, read_app_password, "Application password");
}

// --- push approval -------------------------------------------------------------

Status SqliteStore::create_push_enrollment(const PushEnrollment& e) {
  auto done =
      write({"INSERT INTO push_enrollments(token_hash, user_id, "
             "method_id, created_at, expires_at) VALUES(?, ?, ?, ?, ?)",
             {Text{e.token_hash}, e.user_id, e.method_id, e.created_at, e.expires_at}});
  if (!done) {
    return refine(std::move(done.error()), Code::kNotFound, "not_found", "Method not found.");
  }
  return core::ok();
}

Result<PushEnrollment> SqliteStore::use_push_enrollment(const std::string& token_hash,
                                                        int64_t now) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                       "UPDATE push_enrollments SET used_at = ?1 "
                                       "WHERE token_hash = ?2 AND used_at = 0 AND expires_at > ?1 "
                                       "RETURNING " TWOSTEP_ENROLLMENT_COLUMNS));
  q.bind_int(now).bind_text(token_hash);
  return one(q, read_enrollment, "Enrolment link");
}

Result<PushDevice> SqliteStore::attach_push_device(const PushDevice& d,
                                                   const std::string& sealed_seed) {
  auto c = lease(Access::kWrite);
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  {
    TS_ASSIGN_OR_RETURN(Query q, prepare(*c,
                                         "UPDATE methods SET secret = ? WHERE id = ? AND "
                                         "user_id = ? AND type = 'push' AND confirmed = 0"));
    q.bind_blob(sealed_seed).bind_int(d.method_id).bind_int(d.user_id);
    TS_RETURN_IF_ERROR(expect_changed(q.run(), "Method"));
  }
  PushDevice created;
  {
    TS_ASSIGN_OR_RETURN(
        Query q,
        prepare(*c,
                "INSERT INTO push_devices(method_id, user_id, device_id, public_key, name, "
                "created_at, last_request_ms, last_seen_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING " TWOSTEP_DEVICE_COLUMNS));
    q.bind_int(d.method_id)
        .bind_int(d.user_id)
        .bind_text(d.device_id)
        .bind_blob(d.public_key)
        .bind_text(d.name)
        .bind_int(d.created_at)
        .bind_int(d.last_request_ms)
        .bind_int(d.last_seen_at);
    auto row = one(q, read_device, "Device");
    if (!row) {
      return refine(std::move(row.error()), Code::kAlreadyExists, "device_exists",
                    "This method already has an authenticator.");
    }
    created = std::move(*row);
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return created;
}

Result<PushDevice> SqliteStore::push_device_by_device_id(const std::string& device_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_DEVICE_COLUMNS
                                           " FROM push_devices WHERE device_id = ?"));
  q.bind_text(device_id);
  return one(q, read_device, "Device");
}

Result<std::vector<PushDevice>> SqliteStore::push_devices_of_user(int64_t user_id) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, "SELECT " TWOSTEP_DEVICE_COLUMNS
                                           " FROM push_devices WHERE user_id = ? ORDER BY id"));
  q.bind_int(user_id);
  return all(q, read_device);
}

Result<bool> SqliteStore::advance_push_device_clock(int64_t id, int64_t ts_ms, int64_t now) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query update,
                      prepare(*c,
                              "UPDATE push_devices SET last_request_ms = ?1, "
                              "last_seen_at = ?2 WHERE id = ?3 AND last_request_ms < ?1"));
  update.bind_int(ts_ms).bind_int(now).bind_int(id);
  TS_ASSIGN_OR_RETURN(Query exists, prepare(*c, "SELECT 1 FROM push_devices WHERE id = ?"));
  exists.bind_int(id);
  return won_or_spent(update, exists, "Device");
}

Result<Approval> SqliteStore::create_approval(const Approval& a) {
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(
      Query q,
      prepare(*c,
              "INSERT INTO approvals(user_id, session_id, method_id, number, choices, "
              "created_at, expires_at, ip, user_agent) VALUES(?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
              "?10) RETURNING " TWOSTEP_APPROVAL_COLUMNS("?1")));
  q.bind_int(a.created_at)  // ?1: "now" for the state column
      .bind_int(a.user_id)
      .bind_int(a.session_id)
      .bind_int(a.method_id)
      .bind_int(a.number)
      .bind_text(a.choices)
      .bind_int(a.created_at)
      .bind_int(a.expires_at)
      .bind_text(a.ip)
      .bind_text(a.user_agent);
  auto row = one(q, read_approval, "Approval");
  if (!row) {
    return refine(std::move(row.error()), Code::kNotFound, "not_found", "Session not found.");
  }
  return row;
}

Result<Approval> SqliteStore::approval_of_user(int64_t user_id, int64_t id, int64_t now) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q,
                      prepare(*c, "SELECT " TWOSTEP_APPROVAL_COLUMNS(
                                      "?1") " FROM approvals WHERE id = ?2 AND user_id = ?3"));
  q.bind_int(now).bind_int(id).bind_int(user_id);
  return one(q, read_approval, "Approval");
}

Result<std::vector<Approval>> SqliteStore::pending_approvals_of_user(int64_t user_id, int64_t now) {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(
      Query q,
      prepare(*c, "SELECT " TWOSTEP_APPROVAL_COLUMNS(
                      "?1") " FROM approvals WHERE user_id = ?2 AND "
                            "state = 'pending' AND " TWOSTEP_APPROVAL_OPEN("?1") " ORDER BY id"));
  q.bind_int(now).bind_int(user_id);
  return all(q, read_approval);
}

Result<bool> SqliteStore::decide_approval(int64_t user_id, int64_t id, ApprovalState state,
                                          const std::string& decided_by, int64_t now) {
  if (state != ApprovalState::kApproved && state != ApprovalState::kDenied) {
    return core::fail(Code::kInvalidArgument, "invalid_request",
                      "A decision is either approved or denied.");
  }
  auto c = lease(Access::kWrite);
  TS_ASSIGN_OR_RETURN(Query update, prepare(*c,
                                            "UPDATE approvals SET state = ?2, decided_at = ?1, "
                                            "decided_by = ?3 WHERE id = ?4 AND user_id = ?5 AND "
                                            "state = 'pending' AND " TWOSTEP_APPROVAL_OPEN("?1")));
  update.bind_int(now)
      .bind_text(approval_state_name(state))
      .bind_text(decided_by)
      .bind_int(id)
      .bind_int(user_id);
  TS_ASSIGN_OR_RETURN(Query exists,
                      prepare(*c, "SELECT 1 FROM approvals WHERE id = ? AND user_id = ?"));
  exists.bind_int(id).bind_int(user_id);
  return won_or_spent(update, exists, "Approval");
}

Result<bool> SqliteStore::consume_approval(int64_t session_id, int64_t id, int64_t now) {
  return changed_one(
      write({"UPDATE approvals SET consumed_at = ? WHERE id = ? AND "
             "session_id = ? AND state = 'approved' AND consumed_at = 0",
             {now, id, session_id}}));
}

Result<int> SqliteStore::delete_stale_push_rows(int64_t before) {
  TS_ASSIGN_OR_RETURN(std::vector<int> changed,
                      write_all({{"DELETE FROM approvals WHERE expires_at < ?", {before}},
                                 {"DELETE FROM push_enrollments WHERE expires_at < ?", {before}}}));
  return changed[0] + changed[1];
}

Status SqliteStore::put_instance(const Instance& i) {
  TS_RETURN_IF_ERROR(write(put_instance_write(i)));
  return core::ok();
}

Status SqliteStore::delete_instance(const std::string& id) {
  return expect_changed(write({kDeleteInstance, {Text{id}}}), "Instance");
}

Result<std::vector<Instance>> SqliteStore::list_instances() {
  auto c = lease(Access::kRead);
  TS_ASSIGN_OR_RETURN(Query q, prepare(*c, kListInstances));
  return all(q, read_instance);
}

Result<int> SqliteStore::delete_instances_seen_before(int64_t seen_before) {
  return write({kDeleteInstancesSeenBefore, {seen_before}});
}

}  // namespace twostep::store::sqlite
