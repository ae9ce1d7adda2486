#include "twostep/store/postgres/pg_store.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <utility>

#include "twostep/core/log.hpp"
#include "twostep/core/text.hpp"
#include "twostep/store/backend.hpp"
#include "twostep/store/migration.hpp"

namespace twostep::store::postgres {

using core::Code;
using core::display_text;
using core::Error;

namespace {

// Type OIDs from PostgreSQL's catalog (pg_type.dat); they never change.
constexpr unsigned kBoolOid = 16;
constexpr unsigned kByteaOid = 17;
constexpr unsigned kInt8Oid = 20;
constexpr unsigned kTextOid = 25;

// The advisory lock that serialises migrations across instances ("twostep" + 1).
constexpr int64_t kMigrationLock = 0x74776f7374657001;

Error unavailable(std::string detail) {
  return Error{Code::kUnavailable, "unavailable",
               "The database cannot be reached right now; try again shortly.", std::move(detail),
               1};
}

std::string_view first_line(std::string_view text) {
  return text.substr(0, std::min(text.find('\n'), text.size()));
}

// The one place where PostgreSQL errors become core errors. `context` is SQL text, never a bound
// value. The server's message is left out of the detail except for errors about our own SQL (class
// 42): messages such as "invalid input syntax ... \"<value>\"" quote the values, and bound values
// may be secrets. SQLSTATE, constraint and column names are enough to diagnose.
Error to_error(PGconn* conn, const PGresult* result, std::string_view context) {
  std::string detail = "postgres: ";
  detail.append(first_line(context));
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (state == nullptr) {
    // libpq failed before the server answered: the connection is gone (or never was).
    detail += ": ";
    detail.append(first_line(PQerrorMessage(conn)));
    if (PQstatus(conn) == CONNECTION_BAD) {
      return unavailable(std::move(detail));
    }
    return Error{Code::kInternal, "internal", "Something went wrong on our side.",
                 std::move(detail), 0};
  }
  std::string_view code(state);
  detail += ": SQLSTATE ";
  detail.append(code);
  for (auto [field, name] :
       {std::pair{PG_DIAG_TABLE_NAME, " table "}, std::pair{PG_DIAG_COLUMN_NAME, " column "},
        std::pair{PG_DIAG_CONSTRAINT_NAME, " constraint "}}) {
    if (const char* value = PQresultErrorField(result, field)) {
      detail += name;
      detail += value;
    }
  }
  if (code.substr(0, 2) == "42") {
    if (const char* message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) {
      detail += ": ";
      detail += message;
    }
  }
  if (code == "23505") {  // unique_violation
    return Error{Code::kAlreadyExists, "already_exists", "That already exists.", std::move(detail),
                 0};
  }
  if (code == "23503") {  // foreign_key_violation: the row it points to is missing
    return Error{Code::kNotFound, "not_found", "Not found.", std::move(detail), 0};
  }
  if (code == "22021" || code == "22P05") {  // bytes that are not valid text in UTF-8
    return Error{Code::kInvalidArgument, "invalid_text",
                 "Text must be valid UTF-8 without NUL characters.", std::move(detail), 0};
  }
  // Transient, worth a retry: connection exceptions, shutdown/crash/cannot-connect-now, too many
  // connections or other missing resources, serialization failures and deadlocks, lock timeouts.
  std::string_view cls = code.substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "57" || cls == "40" || code == "55P03") {
    return unavailable(std::move(detail));
  }
  return Error{Code::kInternal, "internal", "Something went wrong on our side.", std::move(detail),
               0};
}

void put_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

// One row of a binary-format result.
class Row {
 public:
  Row(const PGresult* result, int row) : result_(result), row_(row) {}

  // Integers and booleans of any width (int2/int4/int8/bool), big-endian on the wire; NULL reads as
  // 0.
  int64_t col_int(int i) const {
    if (PQgetisnull(result_, row_, i)) {
      return 0;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row_, i));
    int len = PQgetlength(result_, row_, i);
    uint64_t v = 0;
    for (int k = 0; k < len && k < 8; ++k) {
      v = (v << 8) | p[k];
    }
    if (len > 0 && len < 8 && (p[0] & 0x80) != 0 && PQftype(result_, i) != kBoolOid) {
      v |= ~uint64_t{0} << (8 * len);  // sign-extend int2/int4
    }
    return static_cast<int64_t>(v);
  }
  bool col_bool(int i) const { return col_int(i) != 0; }
  // TEXT and BYTEA alike: the raw bytes.
  std::string col_text(int i) const {
    if (PQgetisnull(result_, row_, i)) {
      return {};
    }
    return std::string(PQgetvalue(result_, row_, i),
                       static_cast<size_t>(PQgetlength(result_, row_, i)));
  }
  std::string col_blob(int i) const { return col_text(i); }

 private:
  const PGresult* result_;
  int row_;
};

// The rows (or the affected-row count) of one statement.
class Rows {
 public:
  explicit Rows(PgResult result) : result_(std::move(result)) {}
  int size() const { return PQntuples(result_.get()); }
  Row operator[](int i) const { return Row(result_.get(), i); }
  // For INSERT/UPDATE/DELETE: how many rows the statement changed.
  int changed() const {
    const char* n = PQcmdTuples(result_.get());
    return n != nullptr && *n != '\0' ? std::atoi(n) : 0;
  }

 private:
  PgResult result_;
};

// One execution of a statement: binds parameters in order (all in binary format, each with its
// type), prepares the SQL on this connection once, runs it and returns binary rows.
class Query {
 public:
  Query(Connection& c, std::string_view sql) : c_(c), sql_(sql) {}

  Query& bind_int(int64_t v) {
    std::string bytes;
    put_be64(bytes, static_cast<uint64_t>(v));
    return add(kInt8Oid, std::move(bytes), false);
  }
  Query& bind_null_int() { return add(kInt8Oid, {}, true); }
  // A LIMIT: a count > 0, or NULL (no limit) for 0 and below, as the verbs' `limit` means.
  Query& bind_limit(int limit) { return limit > 0 ? bind_int(limit) : bind_null_int(); }
  Query& bind_bool(bool v) { return add(kBoolOid, std::string(1, v ? '\1' : '\0'), false); }
  Query& bind_text(std::string_view v) { return add(kTextOid, std::string(v), false); }
  Query& bind_blob(std::string_view v) { return add(kByteaOid, std::string(v), false); }

  core::Result<Rows> exec() {
    TS_ASSIGN_OR_RETURN(std::string name, c_.prepare_cached(sql_, types_));
    std::vector<const char*> values(values_.size());
    std::vector<int> lengths(values_.size());
    std::vector<int> formats(values_.size(), 1);
    for (size_t i = 0; i < values_.size(); ++i) {
      values[i] = nulls_[i] ? nullptr : values_[i].data();
      lengths[i] = static_cast<int>(values_[i].size());
    }
    PgResult result(PQexecPrepared(c_.get(), name.c_str(), static_cast<int>(values_.size()),
                                   values.data(), lengths.data(), formats.data(),
                                   /*resultFormat=*/1));
    ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      Error e = to_error(c_.get(), result.get(), sql_);
      if (PQstatus(c_.get()) == CONNECTION_BAD) {
        // Once per broken connection: the next lease replaces it.
        LOG_WARN("database connection lost during a statement: " << e.detail);
      }
      return tl::unexpected(std::move(e));
    }
    return Rows(std::move(result));
  }

  // Runs the statement and returns how many rows it changed.
  core::Result<int> run() {
    TS_ASSIGN_OR_RETURN(Rows rows, exec());
    return rows.changed();
  }

  // Reads the first column of the first row; kNotFound when there is no row.
  core::Result<int64_t> scalar(const char* what) {
    TS_ASSIGN_OR_RETURN(Rows rows, exec());
    if (rows.size() == 0) {
      return not_found(what);
    }
    return rows[0].col_int(0);
  }

 private:
  Query& add(unsigned type, std::string bytes, bool null) {
    types_.push_back(type);
    values_.push_back(std::move(bytes));
    nulls_.push_back(null);
    return *this;
  }

  Connection& c_;
  std::string_view sql_;
  std::vector<unsigned> types_;
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
};

// Reads exactly one row with `read`; kNotFound (naming `what`) when there is none.
template <class Read>
auto one(Query& q, Read read, const char* what) -> core::Result<decltype(read(Row(nullptr, 0)))> {
  TS_ASSIGN_OR_RETURN(Rows rows, q.exec());
  if (rows.size() == 0) {
    return not_found(what);
  }
  return read(rows[0]);
}

template <class Read>
auto all(Query& q, Read read) -> core::Result<std::vector<decltype(read(Row(nullptr, 0)))>> {
  TS_ASSIGN_OR_RETURN(Rows rows, q.exec());
  std::vector<decltype(read(Row(nullptr, 0)))> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(read(rows[i]));
  }
  return out;
}

// A transaction on one connection, rolled back unless committed. Statements inside run under READ
// COMMITTED; verbs that read-then-write first lock the user's row (lock_user), which serialises
// them per user the way SQLite's single writer does.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(c) {}
  ~Transaction() {
    if (open_ && c_.connected()) {
      PQclear(PQexec(c_.get(), "ROLLBACK"));
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  core::Status begin() {
    TS_RETURN_IF_ERROR(c_.exec("BEGIN"));
    open_ = true;
    return core::ok();
  }
  core::Status commit() {
    open_ = false;
    return c_.exec("COMMIT");
  }

 private:
  Connection& c_;
  bool open_ = false;
};

// Locks the user's row until the transaction ends (kNotFound when there is no such user). FOR NO
// KEY UPDATE does not block inserts that only reference the user (sessions, audit).
core::Status lock_user(Connection& c, int64_t user_id) {
  Query q(c, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE");
  q.bind_int(user_id);
  TS_RETURN_IF_ERROR(q.scalar("User"));
  return core::ok();
}

// Server notices (e.g. "relation already exists, skipping") would go to stderr by default.
void on_notice(void*, const char* message) {
  LOG_DEBUG("postgres notice: " << first_line(message));
}

}  // namespace

// --- RAII handles ------------------------------------------------------------

PgResult::~PgResult() { PQclear(result_); }

PgResult::PgResult(PgResult&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

Connection::~Connection() { close(); }

Connection::Connection(Connection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), prepared_(std::move(other.prepared_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    conn_ = std::exchange(other.conn_, nullptr);
    prepared_ = std::move(other.prepared_);
  }
  return *this;
}

PGconn* Connection::release() {
  prepared_.clear();
  return std::exchange(conn_, nullptr);
}

void Connection::close() {
  prepared_.clear();
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
}

core::Result<Connection> Connection::open(const std::string& url) {
  // The URL is expanded in place of "dbname"; keywords before it are defaults the URL may override,
  // keywords after it are forced (every string we send is UTF-8). The timeouts bound how long a
  // call can hang on a server that vanished without closing the connection (keepalives while
  // waiting for an answer, tcp_user_timeout for data never acknowledged).
  const char* const keys[] = {"connect_timeout",  "keepalives_idle",  "keepalives_interval",
                              "keepalives_count", "tcp_user_timeout", "application_name",
                              "dbname",           "client_encoding",  nullptr};
  const char* const values[] = {"5",       "30",        "10",   "3",    "30000",
                                "twostep", url.c_str(), "UTF8", nullptr};
  Connection c;
  c.conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (c.conn_ == nullptr) {
    return tl::unexpected(unavailable("postgres: out of memory while connecting"));
  }
  if (PQstatus(c.conn_) != CONNECTION_OK) {
    // libpq's reason names host and port (and a refused user), never the password.
    return tl::unexpected(
        unavailable("postgres: " + std::string(first_line(PQerrorMessage(c.conn_)))));
  }
  PQsetNoticeProcessor(c.conn_, on_notice, nullptr);
  return c;
}

bool Connection::healthy() {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK ||
      PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    return false;
  }
  // An idle pooled connection is sent nothing, so anything readable (the termination notice of a
  // restarting server, end of file, a reset) means it is going away: replace it rather than fail
  // the next statement on it.
  pollfd p{};
  p.fd = PQsocket(conn_);
  p.events = POLLIN;
  if (p.fd < 0) {
    return false;
  }
  int n = ::poll(&p, 1, 0);
  return n == 0;
}

core::Result<std::string> Connection::prepare_cached(std::string_view sql,
                                                     const std::vector<unsigned>& types) {
  std::string key(sql);
  auto it = prepared_.find(key);
  if (it != prepared_.end()) {
    return it->second;
  }
  std::string name = "ts_" + std::to_string(prepared_.size() + 1);
  std::vector<Oid> oids(types.begin(), types.end());
  PgResult result(
      PQprepare(conn_, name.c_str(), key.c_str(), static_cast<int>(oids.size()), oids.data()));
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    return tl::unexpected(to_error(conn_, result.get(), sql));
  }
  prepared_.emplace(std::move(key), name);
  return name;
}

core::Status Connection::exec(const char* sql) {
  PgResult result(PQexec(conn_, sql));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return tl::unexpected(to_error(conn_, result.get(), sql));
  }
  return core::ok();
}

// --- pool --------------------------------------------------------------------

class PgStore::Lease {
 public:
  Lease(PgStore& store, Connection* c) : store_(&store), c_(c) {}
  ~Lease() {
    if (c_ == nullptr) {
      return;
    }
    // A verb that returned early inside a transaction must not hand the transaction on.
    if (c_->connected() && PQtransactionStatus(c_->get()) != PQTRANS_IDLE &&
        PQtransactionStatus(c_->get()) != PQTRANS_UNKNOWN) {
      PQclear(PQexec(c_->get(), "ROLLBACK"));
    }
    store_->give_back(c_);
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Lease(Lease&& other) noexcept : store_(other.store_), c_(std::exchange(other.c_, nullptr)) {}
  Lease& operator=(Lease&&) = delete;

  Connection& operator*() const { return *c_; }
  Connection* operator->() const { return c_; }

 private:
  PgStore* store_;
  Connection* c_;
};

PgStore::PgStore(std::string url, int pool_size) : url_(std::move(url)) {
  for (int i = 0; i < pool_size; ++i) {
    connections_.push_back(std::make_unique<Connection>());
    idle_.push_back(connections_.back().get());
  }
}

PgStore::~PgStore() = default;

Status PgStore::check_url(const std::string& url) {
  // A malformed URL is a configuration error, not an outage. libpq's parse message may quote parts
  // of the URL (a password among them), so it is not passed on.
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &parse_error);
  PQfreemem(parse_error);
  if (options == nullptr) {
    return core::fail(Code::kInvalidArgument, "invalid_database_url",
                      "database.url: not a valid PostgreSQL URL; expected "
                      "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAM=VALUE...]");
  }
  PQconninfoFree(options);
  return core::ok();
}

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& url, int pool_size) {
  TS_RETURN_IF_ERROR(check_url(url));  // parse first: before any connection attempt
  std::unique_ptr<PgStore> store(new PgStore(url, std::max(1, pool_size)));
  TS_ASSIGN_OR_RETURN(Lease c, store->lease());
  if (PQserverVersion(c->get()) < 100000) {
    return core::fail(Code::kFailedPrecondition, "database_too_old",
                      "twostep needs PostgreSQL 10 or newer.");
  }
  return store;
}

Result<PgStore::Lease> PgStore::lease() {
  Connection* c = nullptr;
  {
    std::unique_lock<std::mutex> lock(pool_mu_);
    if (!pool_cv_.wait_for(lock, kLeaseTimeout, [this] { return !idle_.empty(); })) {
      return tl::unexpected(unavailable("postgres: no free pooled connection"));
    }
    c = idle_.back();
    idle_.pop_back();
  }
  Lease held(*this, c);
  if (c->healthy()) {
    return held;
  }
  *c = Connection();  // a broken connection is dropped before anything else
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (std::chrono::steady_clock::now() < retry_after_) {
      return tl::unexpected(unavailable("postgres: not reachable (waiting before reconnecting)"));
    }
  }
  auto fresh = Connection::open(url_);
  if (!fresh) {
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      retry_after_ = std::chrono::steady_clock::now() + kReconnectBackoff;
    }
    note_reachable(false, fresh.error().detail);
    return tl::unexpected(std::move(fresh.error()));
  }
  *c = std::move(*fresh);
  note_reachable(true, {});
  return held;
}

void PgStore::give_back(Connection* connection) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    idle_.push_back(connection);
  }
  pool_cv_.notify_one();
}

void PgStore::note_reachable(bool reachable, const std::string& detail) {
  // The first outcome is not a transition: at start-up, open() reports a failure itself.
  int now = reachable ? kReachable : kUnreachable;
  int before = reachability_.exchange(now);
  if (before == now || before == kUnknown) {
    return;
  }
  if (reachable) {
    LOG_INFO("database reachable again");
  } else {
    LOG_WARN("database unreachable; calls answer 503 until it is back: " << detail);
  }
}

// --- writes ------------------------------------------------------------------

namespace {

core::Result<int> run_write(Connection& c, const Write& w) {
  Query q(c, w.sql);
  for (const Param& p : w.params) {
    bind_param(q, p);
  }
  return q.run();
}

}  // namespace

Result<int> PgStore::write(const Write& w) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  return run_write(*c, w);
}

Result<std::vector<int>> PgStore::write_all(const std::vector<Write>& writes) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  return write_in_transaction<Transaction>(*c, writes, run_write);
}

// --- migrations --------------------------------------------------------------

int PgStore::known_schema_version() {
  int known = 0;
  for (const Migration& m : kPostgresMigrations) known = std::max(known, m.version);
  return known;
}

Result<int> PgStore::schema_version() {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  {
    Query q(*c, "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0 ELSE 1 END");
    TS_ASSIGN_OR_RETURN(int64_t exists, q.scalar("schema version"));
    if (exists == 0) return 0;
  }
  Query q(*c, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  TS_ASSIGN_OR_RETURN(int64_t version, q.scalar("schema version"));
  return static_cast<int>(version);
}

Result<int> PgStore::migrate() {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  // Instances starting together take turns: the lock lasts until this transaction ends, and the
  // next one then finds every migration applied.
  {
    Query q(*c, "SELECT pg_advisory_xact_lock($1)");
    q.bind_int(kMigrationLock);
    TS_RETURN_IF_ERROR(q.exec());
  }
  TS_RETURN_IF_ERROR(
      c->exec("CREATE TABLE IF NOT EXISTS schema_version("
              "version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
              "applied_at BIGINT NOT NULL)"));
  const int known = known_schema_version();
  for (const Migration& m : kPostgresMigrations) {
    {
      Query q(*c, "SELECT EXISTS(SELECT 1 FROM schema_version WHERE version = $1)");
      q.bind_int(m.version);
      TS_ASSIGN_OR_RETURN(int64_t applied, q.scalar("schema version"));
      if (applied != 0) {
        continue;
      }
    }
    TS_RETURN_IF_ERROR(c->exec(m.sql));
    Query q(*c,
            "INSERT INTO schema_version(version, name, applied_at) "
            "VALUES($1, $2, EXTRACT(EPOCH FROM now())::bigint)");
    q.bind_int(m.version).bind_text(m.name);
    TS_RETURN_IF_ERROR(q.run());
  }
  int64_t version = 0;
  {
    Query q(*c, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    TS_ASSIGN_OR_RETURN(version, q.scalar("schema version"));
  }
  TS_RETURN_IF_ERROR(tx.commit());
  if (version > known) {
    return core::fail(
        Code::kFailedPrecondition, "schema_too_new",
        "The database was written by a newer version of twostep.",
        "schema version " + std::to_string(version) + " > known " + std::to_string(known));
  }
  return static_cast<int>(version);
}

// --- users -------------------------------------------------------------------

Result<User> PgStore::create_user(const std::string& username, const std::string& password_hash,
                                  int64_t now) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "INSERT INTO users(username, password_hash, created_at) "
          "VALUES($1, $2, $3) "
          "RETURNING " TWOSTEP_USER_COLUMNS);
  q.bind_text(username).bind_text(password_hash).bind_int(now);
  auto user = one(q, read_user, "User");
  if (!user) {
    return refine(std::move(user.error()), Code::kAlreadyExists, "username_taken",
                  "That username is taken.");
  }
  return user;
}

Result<User> PgStore::user_by_name(const std::string& username) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  // The same expression as the unique index users_username_nocase, so the index serves it.
  Query q(*c, "SELECT " TWOSTEP_USER_COLUMNS
              " FROM users WHERE lower(username COLLATE \"C\") = lower($1 "
              "COLLATE \"C\")");
  q.bind_text(username);
  return one(q, read_user, "User");
}

Result<User> PgStore::user_by_id(int64_t id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_USER_COLUMNS " FROM users WHERE id = $1");
  q.bind_int(id);
  return one(q, read_user, "User");
}

Result<std::vector<User>> PgStore::list_users() {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_USER_COLUMNS " FROM users ORDER BY id");
  return all(q, read_user);
}

Status PgStore::set_password_hash(int64_t user_id, const std::string& password_hash) {
  return expect_changed(
      write({"UPDATE users SET password_hash = $1 WHERE id = $2", {Text{password_hash}, user_id}}),
      "User");
}

Status PgStore::set_user_disabled(int64_t user_id, bool disabled) {
  return expect_changed(
      write({"UPDATE users SET disabled = $1 WHERE id = $2", {Bool{disabled}, user_id}}), "User");
}

Status PgStore::set_last_login(int64_t user_id, int64_t at) {
  return expect_changed(write({"UPDATE users SET last_login_at = $1 WHERE id = $2", {at, user_id}}),
                        "User");
}

Result<std::string> PgStore::webauthn_user_handle(int64_t user_id, const std::string& candidate) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "UPDATE users SET webauthn_handle = COALESCE(webauthn_handle, $1) WHERE id = $2 "
          "RETURNING webauthn_handle");
  q.bind_blob(candidate).bind_int(user_id);
  return one(q, read_blob, "User");
}

// --- master keys -------------------------------------------------------------

Result<int64_t> PgStore::pin_legacy_key_ids(uint32_t key_id) {
  TS_ASSIGN_OR_RETURN(std::vector<int> changed, write_all(pin_legacy_key_id_writes(key_id)));
  return std::accumulate(changed.begin(), changed.end(), int64_t{0});
}

Result<std::vector<KeyUse>> PgStore::key_usage(int64_t now) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  std::vector<KeyUse> out;
  for (const KeyUsageQuery& k : kKeyUsageQueries) {
    Query q(*c, k.sql);
    if (k.takes_now) q.bind_int(now);
    TS_ASSIGN_OR_RETURN(auto rows, all(q, read_key_use(k)));
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return merge_key_uses(std::move(out));
}

Result<std::vector<KeyDependents>> PgStore::delete_recovery_codes_of_key(uint32_t key_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, kDeleteRecoveryCodesOfKey);
  q.bind_int(key_id);
  TS_ASSIGN_OR_RETURN(auto rows, all(q, read_deleted_code));
  return count_unused_by_user(rows);
}

Result<std::vector<AppPassword>> PgStore::app_passwords_of_key(uint32_t key_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, kAppPasswordsOfKey);
  q.bind_int(key_id);
  return all(q, read_app_password);
}

Result<int> PgStore::delete_live_sms_codes_of_key(uint32_t key_id, int64_t now) {
  return write({kDeleteLiveSmsCodesOfKey, {int64_t{key_id}, now}});
}

Result<std::vector<Method>> PgStore::methods_sealed_with_other_keys(uint32_t key_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, TWOSTEP_METHODS_SEALED_WITH_OTHER_KEYS);
  q.bind_blob(crypto::Keyring::sealed_header(key_id));
  return all(q, read_method);
}

Result<bool> PgStore::reseal_method_secret(int64_t method_id, const std::string& old_secret,
                                           const std::string& new_secret) {
  return changed_one(write({kResealMethodSecret, {Blob{new_secret}, method_id, Blob{old_secret}}}));
}

Result<bool> PgStore::reseal_yubikey_secret(const std::string& public_id,
                                            const std::string& old_secret,
                                            const std::string& new_secret) {
  return changed_one(
      write({kResealYubikeySecret, {Blob{new_secret}, Text{public_id}, Blob{old_secret}}}));
}

Result<std::vector<Method>> PgStore::methods_of_type(const std::string& type) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, kMethodsOfType);
  q.bind_text(type);
  return all(q, read_method);
}

Result<bool> PgStore::rekey_method_params(int64_t method_id, const std::string& old_params,
                                   const std::string& new_params) {
  return changed_one(write({kRekeyMethodParams, {Text{new_params}, method_id, Text{old_params}}}));
}

// --- sessions ----------------------------------------------------------------

Result<Session> PgStore::create_session(const Session& s) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "INSERT INTO sessions(token_hash, user_id, state, remember, "
          "created_at, last_seen_at, "
          "expires_at, absolute_expires_at, auth_at, failed_attempts, ip, "
          "user_agent) "
          "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
          "RETURNING " TWOSTEP_SESSION_COLUMNS);
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
      .bind_text(display_text(s.ip))
      .bind_text(display_text(s.user_agent));
  auto session = one(q, read_session, "Session");
  if (!session) {
    return refine(std::move(session.error()), Code::kNotFound, "not_found", "User not found.");
  }
  return session;
}

Result<Session> PgStore::session_by_token_hash(const std::string& token_hash) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_SESSION_COLUMNS " FROM sessions WHERE token_hash = $1");
  q.bind_text(token_hash);
  return one(q, read_session, "Session");
}

Result<Session> PgStore::session_by_id(int64_t id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_SESSION_COLUMNS " FROM sessions WHERE id = $1");
  q.bind_int(id);
  return one(q, read_session, "Session");
}

Result<std::vector<Session>> PgStore::sessions_of_user(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_SESSION_COLUMNS " FROM sessions WHERE user_id = $1 ORDER BY id");
  q.bind_int(user_id);
  return all(q, read_session);
}

Status PgStore::touch_session(int64_t id, int64_t now, int64_t new_expires_at) {
  return expect_changed(
      write({"UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3",
             {now, new_expires_at, id}}),
      "Session");
}

Status PgStore::upgrade_session(int64_t id, const std::string& new_token_hash, SessionState state,
                                int64_t auth_at, int64_t expires_at) {
  return expect_changed(
      write({"UPDATE sessions SET token_hash = $1, state = $2, auth_at = $3, "
             "expires_at = $4 "
             "WHERE id = $5",
             {Text{new_token_hash}, static_cast<int>(state), auth_at, expires_at, id}}),
      "Session");
}

Result<int> PgStore::add_session_failure(int64_t id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "UPDATE sessions SET failed_attempts = failed_attempts + 1 WHERE id = $1 "
          "RETURNING failed_attempts");
  q.bind_int(id);
  TS_ASSIGN_OR_RETURN(int64_t count, q.scalar("Session"));
  return static_cast<int>(count);
}

Status PgStore::delete_session(int64_t id) {
  return expect_changed(write({"DELETE FROM sessions WHERE id = $1", {id}}), "Session");
}

Status PgStore::delete_user_session(int64_t user_id, int64_t id) {
  return expect_changed(
      write({"DELETE FROM sessions WHERE id = $1 AND user_id = $2", {id, user_id}}), "Session");
}

Result<int> PgStore::delete_sessions_of_user(int64_t user_id, int64_t keep_id) {
  return write({"DELETE FROM sessions WHERE user_id = $1 AND id <> $2", {user_id, keep_id}});
}

Result<int> PgStore::clear_auth_times(int64_t user_id) {
  return write({"UPDATE sessions SET auth_at = 0 WHERE user_id = $1", {user_id}});
}

Result<int> PgStore::delete_expired_sessions(int64_t now) {
  return write(
      {"DELETE FROM sessions WHERE expires_at <= $1 OR "
       "absolute_expires_at <= $1",
       {now}});
}

// --- audit -------------------------------------------------------------------

Status PgStore::append_audit(const AuditEvent& e) {
  TS_RETURN_IF_ERROR(
      write({"INSERT INTO audit(user_id, at, event, ip, user_agent, detail) "
             "VALUES($1, $2, $3, $4, $5, $6)",
             {e.user_id, e.at, Text{e.event}, Text{display_text(e.ip)},
              Text{display_text(e.user_agent)}, Text{display_text(e.detail)}}}));
  return core::ok();
}

Result<std::vector<AuditEvent>> PgStore::audit_of_user(int64_t user_id, int limit) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_AUDIT_COLUMNS
              " FROM audit WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2");
  q.bind_int(user_id).bind_limit(limit);
  return all(q, read_audit);
}

Result<std::vector<AuditEvent>> PgStore::site_audit(const AuditFilter& filter) {
  TS_RETURN_IF_ERROR(check_audit_limit(filter.limit));
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  // One statement for every combination of filters: an absent one is -1 (user) or '' (event).
  Query q(*c, "SELECT " TWOSTEP_SITE_AUDIT_COLUMNS
              " FROM audit a LEFT JOIN users u ON u.id = a.user_id "
              "WHERE ($1 < 0 OR a.user_id = $1) AND ($2 = '' OR a.event = $2) AND a.at >= $3 "
              "ORDER BY a.at DESC, a.id DESC LIMIT $4");
  // An event name that is not UTF-8 matches nothing, as on SQLite, rather than failing.
  q.bind_int(filter.user_id.value_or(-1))
      .bind_text(display_text(filter.event))
      .bind_int(filter.since)
      .bind_int(filter.limit);
  return all(q, read_site_audit);
}

// --- throttles ---------------------------------------------------------------

Result<Throttle> PgStore::throttle_get(const std::string& key) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_THROTTLE_COLUMNS " FROM throttles WHERE key = $1");
  q.bind_blob(key);
  TS_ASSIGN_OR_RETURN(Rows rows, q.exec());
  if (rows.size() == 0) {
    return Throttle{key, 0, 0, 0};
  }
  return read_throttle(rows[0]);
}

Result<Throttle> PgStore::throttle_hit(const std::string& key, int64_t now, int window_s, int max,
                                       int lock_s) {
  // The SQLite statement, word for word: $1 key, $2 now, $3 window_s, $4 max, $5 lock_s. In DO
  // UPDATE, t.* is the row before the write (concurrent hits on one key queue on its row lock and
  // each sees the previous one's result). A lock starts when the new count reaches max and no lock
  // is running (hits during a lock do not extend it); a lock survives a window restart; an expired
  // lock reads back as 0.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "INSERT INTO throttles AS t(key, window_start, hit_count, locked_until) "
          "VALUES($1, $2, 1, CASE WHEN 1 >= $4 THEN $2 + $5 ELSE 0 END) "
          "ON CONFLICT(key) DO UPDATE SET "
          "window_start = CASE WHEN $2 - t.window_start >= $3 THEN $2 ELSE "
          "t.window_start END, "
          "hit_count = CASE WHEN $2 - t.window_start >= $3 THEN 1 ELSE t.hit_count "
          "+ 1 END, "
          "locked_until = CASE "
          "WHEN t.locked_until <= $2 AND "
          "(CASE WHEN $2 - t.window_start >= $3 THEN 1 ELSE t.hit_count + 1 END) "
          ">= $4 "
          "THEN $2 + $5 "
          "WHEN t.locked_until <= $2 THEN 0 "
          "ELSE t.locked_until END "
          "RETURNING " TWOSTEP_THROTTLE_COLUMNS);
  q.bind_blob(key).bind_int(now).bind_int(window_s).bind_int(max).bind_int(lock_s);
  return one(q, read_throttle, "Throttle");
}

Status PgStore::throttle_clear(const std::string& key) {
  TS_RETURN_IF_ERROR(write({"DELETE FROM throttles WHERE key = $1", {Blob{key}}}));
  return core::ok();
}

// --- methods -----------------------------------------------------------------

Result<Method> PgStore::create_method(const Method& m) {
  // A method created already confirmed (e.g. a verified security key) follows the same default rule
  // as confirm_method, and takes the default when m.is_default asks for it.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  bool make_default = false;
  if (m.confirmed) {
    TS_RETURN_IF_ERROR(lock_user(*c, m.user_id));
    int64_t has_default = 0;
    {
      Query q(*c,
              "SELECT EXISTS(SELECT 1 FROM methods WHERE user_id = $1 AND "
              "is_default)");
      q.bind_int(m.user_id);
      TS_ASSIGN_OR_RETURN(has_default, q.scalar("Method"));
    }
    make_default = m.is_default || has_default == 0;
    if (make_default && has_default != 0) {
      Query q(*c,
              "UPDATE methods SET is_default = FALSE WHERE user_id = $1 "
              "AND is_default");
      q.bind_int(m.user_id);
      TS_RETURN_IF_ERROR(q.run());
    }
  }
  Method created;
  {
    Query q(*c,
            "INSERT INTO methods(user_id, type, label, secret, params, lookup, "
            "confirmed, "
            "is_default, created_at, confirmed_at, last_used_at, last_step) "
            "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
            "RETURNING " TWOSTEP_METHOD_COLUMNS);
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

Result<std::vector<Method>> PgStore::methods_of_user(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_METHOD_COLUMNS
              " FROM methods WHERE user_id = $1 ORDER BY created_at, id");
  q.bind_int(user_id);
  return all(q, read_method);
}

Result<Method> PgStore::method_of_user(int64_t user_id, int64_t method_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_METHOD_COLUMNS " FROM methods WHERE id = $1 AND user_id = $2");
  q.bind_int(method_id).bind_int(user_id);
  return one(q, read_method, "Method");
}

Result<Method> PgStore::method_by_lookup(const std::string& type, const std::string& lookup) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  // "lookup <> ''" lets the planner use the partial unique index, and makes an empty lookup match
  // nothing.
  Query q(*c, "SELECT " TWOSTEP_METHOD_COLUMNS
              " FROM methods WHERE type = $1 AND lookup = $2 AND lookup <> ''");
  q.bind_text(type).bind_text(lookup);
  return one(q, read_method, "Method");
}

Status PgStore::confirm_method(int64_t user_id, int64_t method_id, int64_t now) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  TS_RETURN_IF_ERROR(lock_user(*c, user_id));
  {
    Query q(*c,
            "UPDATE methods SET confirmed = TRUE, "
            "confirmed_at = CASE WHEN confirmed THEN confirmed_at ELSE $1 END "
            "WHERE id = $2 AND user_id = $3");
    q.bind_int(now).bind_int(method_id).bind_int(user_id);
    TS_RETURN_IF_ERROR(expect_changed(q.run(), "Method"));
  }
  {
    Query q(*c,
            "UPDATE methods SET is_default = TRUE WHERE id = $1 "
            "AND NOT EXISTS(SELECT 1 FROM methods WHERE user_id = $2 AND "
            "is_default)");
    q.bind_int(method_id).bind_int(user_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  return tx.commit();
}

Status PgStore::rename_method(int64_t user_id, int64_t method_id, const std::string& label) {
  return expect_changed(write({"UPDATE methods SET label = $1 WHERE id = $2 AND user_id = $3",
                               {Text{label}, method_id, user_id}}),
                        "Method");
}

Status PgStore::set_default_method(int64_t user_id, int64_t method_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  TS_RETURN_IF_ERROR(lock_user(*c, user_id));
  {
    Query q(*c, "SELECT confirmed FROM methods WHERE id = $1 AND user_id = $2");
    q.bind_int(method_id).bind_int(user_id);
    TS_ASSIGN_OR_RETURN(int64_t confirmed, q.scalar("Method"));
    if (confirmed == 0) {
      return core::fail(Code::kFailedPrecondition, "method_not_confirmed",
                        "Confirm this method before making it the default.");
    }
  }
  {
    Query q(*c,
            "UPDATE methods SET is_default = FALSE WHERE user_id = $1 AND "
            "is_default "
            "AND id <> $2");
    q.bind_int(user_id).bind_int(method_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  {
    Query q(*c, "UPDATE methods SET is_default = TRUE WHERE id = $1");
    q.bind_int(method_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  return tx.commit();
}

Status PgStore::delete_method(int64_t user_id, int64_t method_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  TS_RETURN_IF_ERROR(lock_user(*c, user_id));
  int64_t was_default = 0;
  {
    Query q(*c,
            "DELETE FROM methods WHERE id = $1 AND user_id = $2 RETURNING "
            "is_default");
    q.bind_int(method_id).bind_int(user_id);
    TS_ASSIGN_OR_RETURN(was_default, q.scalar("Method"));
  }
  if (was_default != 0) {
    Query q(*c,
            "UPDATE methods SET is_default = TRUE WHERE id = "
            "(SELECT id FROM methods WHERE user_id = $1 AND confirmed "
            "ORDER BY created_at, id LIMIT 1)");
    q.bind_int(user_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  return tx.commit();
}

Result<int> PgStore::delete_all_methods(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(std::vector<int> changed,
                      write_all({{"DELETE FROM methods WHERE user_id = $1", {user_id}},
                                 {"DELETE FROM recovery_codes WHERE user_id = $1", {user_id}}}));
  return changed[0];
}

Result<int> PgStore::delete_unconfirmed_methods(int64_t created_before) {
  // Unconfirmed methods are never the default, so nothing needs promoting.
  return write({"DELETE FROM methods WHERE NOT confirmed AND created_at < $1", {created_before}});
}

Status PgStore::update_method_params(int64_t user_id, int64_t method_id,
                                     const std::string& params) {
  return expect_changed(write({"UPDATE methods SET params = $1 WHERE id = $2 AND user_id = $3",
                               {Text{params}, method_id, user_id}}),
                        "Method");
}

Result<bool> PgStore::advance_method_step(int64_t method_id, int64_t step, int64_t now) {
  // One conditional write: a concurrent caller with the same step waits for this row lock,
  // re-checks "last_step < $1" against the new row and changes nothing.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query update(*c,
               "UPDATE methods SET last_step = $1, last_used_at = $2 WHERE id = $3 AND "
               "last_step < $1");
  update.bind_int(step).bind_int(now).bind_int(method_id);
  Query exists(*c, "SELECT 1 FROM methods WHERE id = $1");
  exists.bind_int(method_id);
  return won_or_spent(update, exists, "Method");
}

Status PgStore::touch_method(int64_t method_id, int64_t now) {
  return expect_changed(
      write({"UPDATE methods SET last_used_at = $1 WHERE id = $2", {now, method_id}}), "Method");
}

// --- recovery codes ----------------------------------------------------------

Status PgStore::replace_recovery_codes(int64_t user_id, const std::vector<std::string>& hashes,
                                       uint32_t key_id, int64_t now) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  TS_RETURN_IF_ERROR(lock_user(*c, user_id));
  {
    Query q(*c, "DELETE FROM recovery_codes WHERE user_id = $1");
    q.bind_int(user_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  for (const std::string& hash : hashes) {
    // A repeated hash is stored once (UNIQUE), so it can still be used only once.
    Query q(*c,
            "INSERT INTO recovery_codes(user_id, hash, created_at, key_id) "
            "VALUES($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING");
    q.bind_int(user_id).bind_text(hash).bind_int(now).bind_int(key_id);
    TS_RETURN_IF_ERROR(q.run());
  }
  return tx.commit();
}

Result<std::vector<uint32_t>> PgStore::recovery_code_key_ids(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "SELECT DISTINCT key_id FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL "
          "ORDER BY key_id");
  q.bind_int(user_id);
  return all(q, read_key_id);
}

Result<bool> PgStore::use_recovery_code(int64_t user_id, uint32_t key_id, const std::string& hash,
                                        int64_t now) {
  return changed_one(
      write({"UPDATE recovery_codes SET used_at = $1 "
             "WHERE user_id = $2 AND key_id = $3 AND hash = $4 AND used_at IS NULL",
             {now, user_id, key_id, Text{hash}}}));
}

Result<int> PgStore::remaining_recovery_codes(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND "
          "used_at IS NULL");
  q.bind_int(user_id);
  TS_ASSIGN_OR_RETURN(int64_t n, q.scalar("Recovery codes"));
  return static_cast<int>(n);
}

// --- organisations -----------------------------------------------------------

namespace {

// The confirmed method types of the member, as "a,b".
#define TWOSTEP_ORG_MEMBER_COLUMNS                              \
  TWOSTEP_ORG_MEMBER_SELECT(                                    \
      "SELECT string_agg(DISTINCT t.type, ',') FROM methods t " \
      "WHERE t.user_id = m.user_id AND t.confirmed")

// Locks the organisation's row until the transaction ends (kNotFound when there is none). The
// verbs that may take away an owner hold it while they count the owners: SQLite's single writer
// makes "... AND (SELECT COUNT(*) ... owners) > 1" safe by itself, but under READ COMMITTED two
// owners stepping down at once would each still count the other. FOR NO KEY UPDATE leaves inserts
// of members (which only reference the row) free.
core::Status lock_org(Connection& c, int64_t org_id) {
  Query q(c, "SELECT 1 FROM orgs WHERE id = $1 FOR NO KEY UPDATE");
  q.bind_int(org_id);
  TS_RETURN_IF_ERROR(q.scalar("Organisation"));
  return core::ok();
}

// After a conditional write on a membership changed nothing: was it not a member, or the only
// owner?
core::Status why_membership_unchanged(Connection& c, int64_t org_id, int64_t user_id) {
  Query q(c, "SELECT EXISTS(SELECT 1 FROM org_members WHERE org_id = $1 AND user_id = $2)");
  q.bind_int(org_id).bind_int(user_id);
  TS_ASSIGN_OR_RETURN(int64_t member, q.scalar("Member"));
  return membership_refusal(member != 0);
}

// Runs a membership write that must not remove the last owner: locks the organisation, runs the
// conditional statement, and explains a refusal.
core::Status owner_safe_write(Connection& c, const Write& w, int64_t org_id, int64_t user_id) {
  Transaction tx(c);
  TS_RETURN_IF_ERROR(tx.begin());
  auto locked = lock_org(c, org_id);
  if (!locked) {
    return locked.error().code == Code::kNotFound ? membership_refusal(false) : locked;
  }
  TS_ASSIGN_OR_RETURN(int changed, run_write(c, w));
  if (changed == 0) {
    return why_membership_unchanged(c, org_id, user_id);
  }
  return tx.commit();
}

}  // namespace

Result<Org> PgStore::create_org(const std::string& name, int64_t owner_id, int64_t now) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  Org org;
  {
    Query q(*c, "INSERT INTO orgs(name, created_at) VALUES($1, $2) RETURNING " TWOSTEP_ORG_COLUMNS);
    q.bind_text(name).bind_int(now);
    auto row = one(q, read_org, "Organisation");
    if (!row) {
      return refine(std::move(row.error()), Code::kAlreadyExists, "org_name_taken",
                    "An organisation with that name exists already.");
    }
    org = std::move(*row);
  }
  {
    Query q(*c,
            "INSERT INTO org_members(org_id, user_id, role, added_at) "
            "VALUES($1, $2, 'owner', $3)");
    q.bind_int(org.id).bind_int(owner_id).bind_int(now);
    auto st = q.run();
    if (!st) {
      return refine(std::move(st.error()), Code::kNotFound, "not_found", "User not found.");
    }
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return org;
}

Result<Org> PgStore::org_by_id(int64_t id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_ORG_COLUMNS " FROM orgs WHERE id = $1");
  q.bind_int(id);
  return one(q, read_org, "Organisation");
}

Result<Org> PgStore::org_by_name(const std::string& name) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  // The same expression as the unique index orgs_name_nocase, so the index serves it.
  Query q(*c, "SELECT " TWOSTEP_ORG_COLUMNS
              " FROM orgs WHERE lower(name COLLATE \"C\") = lower($1 COLLATE \"C\")");
  q.bind_text(name);
  return one(q, read_org, "Organisation");
}

Result<std::vector<Org>> PgStore::list_orgs() {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_ORG_COLUMNS " FROM orgs ORDER BY id");
  return all(q, read_org);
}

Result<std::vector<OrgMembership>> PgStore::orgs_of_user(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "SELECT o.id, o.name, o.created_at, o.require_2fa, o.grace_days, o.policy_since, "
          "m.role, m.added_at FROM org_members m JOIN orgs o ON o.id = m.org_id "
          "WHERE m.user_id = $1 ORDER BY o.id");
  q.bind_int(user_id);
  return all(q, [](const Row& r) {
    return OrgMembership{read_org_at(r, 0), read_org_role(r, 6), r.col_int(7)};
  });
}

Result<std::vector<OrgMember>> PgStore::org_members(int64_t org_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  // COLLATE "C": byte order, as SQLite's default BINARY collation sorts usernames.
  Query q(*c, "SELECT " TWOSTEP_ORG_MEMBER_COLUMNS
              " WHERE m.org_id = $1 ORDER BY u.username COLLATE \"C\"");
  q.bind_int(org_id);
  return all(q, read_org_member);
}

Result<OrgMember> PgStore::org_member(int64_t org_id, int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_ORG_MEMBER_COLUMNS " WHERE m.org_id = $1 AND m.user_id = $2");
  q.bind_int(org_id).bind_int(user_id);
  return one(q, read_org_member, "Member");
}

Status PgStore::add_org_member(int64_t org_id, int64_t user_id, OrgRole role, int64_t now) {
  auto st =
      write({"INSERT INTO org_members(org_id, user_id, role, added_at) "
             "VALUES($1, $2, $3, $4)",
             {org_id, user_id, Text{org_role_name(role)}, now}});
  if (!st) {
    return refine(std::move(st.error()), Code::kAlreadyExists, "already_member",
                  "That user is a member already.");
  }
  return core::ok();
}

Status PgStore::set_org_member_role(int64_t org_id, int64_t user_id, OrgRole role) {
  // $1 role, $2 org, $3 user. The owner count is read after lock_org, in this statement's own
  // snapshot, so it sees every change committed by whoever held the lock before.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  return owner_safe_write(
      *c,
      {"UPDATE org_members SET role = $1 "
       "WHERE org_id = $2 AND user_id = $3 AND "
       "(role <> 'owner' OR $1 = 'owner' OR "
       "(SELECT COUNT(*) FROM org_members WHERE org_id = $2 AND role = 'owner') > 1)",
       {Text{org_role_name(role)}, org_id, user_id}},
      org_id, user_id);
}

Status PgStore::remove_org_member(int64_t org_id, int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  return owner_safe_write(
      *c,
      {"DELETE FROM org_members WHERE org_id = $1 AND user_id = $2 AND "
       "(role <> 'owner' OR "
       "(SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND role = 'owner') > 1)",
       {org_id, user_id}},
      org_id, user_id);
}

Result<Org> PgStore::set_org_policy(int64_t org_id, bool require_2fa, int grace_days, int64_t now) {
  // $1 require, $2 grace, $3 now, $4 org. Bare columns are the row before the write.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "UPDATE orgs SET require_2fa = $1, grace_days = $2, "
          "policy_since = CASE WHEN NOT $1 THEN 0 WHEN require_2fa THEN policy_since ELSE $3 END "
          "WHERE id = $4 RETURNING " TWOSTEP_ORG_COLUMNS);
  q.bind_bool(require_2fa).bind_int(grace_days).bind_int(now).bind_int(org_id);
  return one(q, read_org, "Organisation");
}

Status PgStore::append_org_audit(const OrgAuditEvent& e) {
  TS_RETURN_IF_ERROR(
      write({"INSERT INTO org_audit(org_id, at, actor_id, subject_id, event, ip, user_agent, "
             "detail) VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
             {e.org_id, e.at, e.actor_id, e.subject_id, Text{e.event}, Text{display_text(e.ip)},
              Text{display_text(e.user_agent)}, Text{display_text(e.detail)}}}));
  return core::ok();
}

Result<std::vector<OrgAuditEvent>> PgStore::org_audit(int64_t org_id, int limit) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_ORG_AUDIT_COLUMNS
              " FROM org_audit a "
              "LEFT JOIN users actor ON actor.id = a.actor_id "
              "LEFT JOIN users subject ON subject.id = a.subject_id "
              "WHERE a.org_id = $1 ORDER BY a.at DESC, a.id DESC LIMIT $2");
  q.bind_int(org_id).bind_limit(limit);
  return all(q, read_org_audit);
}

namespace {

// Moves every session of the user in state `from` to `to` while the user has no confirmed method.
// The user's row is locked first, as confirm_method and create_method do: a confirmation in flight
// either commits before (and this changes nothing) or waits until this commits (and the service
// then upgrades the restricted session), the order SQLite's single writer gives.
core::Result<int> move_sessions_without_2fa(Connection& c, int64_t user_id, SessionState from,
                                            SessionState to) {
  Transaction tx(c);
  TS_RETURN_IF_ERROR(tx.begin());
  auto locked = lock_user(c, user_id);
  if (!locked) {
    // No such user, no sessions: 0, as on SQLite.
    return locked.error().code == Code::kNotFound ? core::Result<int>(0)
                                                  : tl::unexpected(locked.error());
  }
  Query q(c,
          "UPDATE sessions SET state = $1 WHERE user_id = $2 AND state = $3 AND "
          "NOT EXISTS(SELECT 1 FROM methods WHERE user_id = $2 AND confirmed)");
  q.bind_int(static_cast<int>(to)).bind_int(user_id).bind_int(static_cast<int>(from));
  TS_ASSIGN_OR_RETURN(int changed, q.run());
  TS_RETURN_IF_ERROR(tx.commit());
  return changed;
}

}  // namespace

Result<int> PgStore::restrict_sessions_without_2fa(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  return move_sessions_without_2fa(*c, user_id, SessionState::kFull,
                                   SessionState::kEnrollmentRequired);
}

Result<int> PgStore::lift_restricted_sessions(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  return move_sessions_without_2fa(*c, user_id, SessionState::kEnrollmentRequired,
                                   SessionState::kFull);
}

// --- security keys -----------------------------------------------------------

Result<int> PgStore::import_yubikeys(const std::vector<YubikeyRecord>& keys, bool replace,
                                     int64_t now) {
  // One statement per key, so that two imports of the same key at once cannot both insert it:
  // without `replace` a known public id is a unique violation; with it, the upsert tells an
  // insert (xmax = 0: no earlier version of the row) from a replacement. A reprogrammed key
  // starts its counter again.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  int added = 0;
  for (const YubikeyRecord& k : keys) {
    if (!replace) {
      Query q(*c, "INSERT INTO yubikeys(public_id, secret, imported_at) VALUES($1, $2, $3)");
      q.bind_text(k.public_id).bind_blob(k.secret).bind_int(now);
      auto st = q.run();
      if (!st) {
        return refine(
            std::move(st.error()), Code::kAlreadyExists, "yubikey_exists",
            ("A YubiKey with public id " + k.public_id + " is already imported.").c_str());
      }
      ++added;
      continue;
    }
    Query q(*c,
            "INSERT INTO yubikeys(public_id, secret, imported_at) VALUES($1, $2, $3) "
            "ON CONFLICT(public_id) DO UPDATE SET secret = EXCLUDED.secret, "
            "imported_at = EXCLUDED.imported_at, last_counter = -1, last_used_at = 0 "
            "RETURNING xmax = 0");
    q.bind_text(k.public_id).bind_blob(k.secret).bind_int(now);
    TS_ASSIGN_OR_RETURN(int64_t inserted, q.scalar("YubiKey"));
    added += inserted != 0 ? 1 : 0;
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return added;
}

Result<YubikeyRecord> PgStore::yubikey_by_public_id(const std::string& public_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_YUBIKEY_COLUMNS " FROM yubikeys WHERE public_id = $1");
  q.bind_text(public_id);
  return one(q, read_yubikey, "YubiKey");
}

Result<std::vector<YubikeyRecord>> PgStore::list_yubikeys() {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  // COLLATE "C": byte order, as SQLite sorts.
  Query q(*c, "SELECT " TWOSTEP_YUBIKEY_COLUMNS " FROM yubikeys ORDER BY public_id COLLATE \"C\"");
  return all(q, read_yubikey);
}

Result<bool> PgStore::advance_yubikey_counter(const std::string& public_id, int64_t counter,
                                              int64_t now) {
  // The same single conditional write as advance_method_step: the counter belongs to the key, so
  // an OTP typed into two instances at once is accepted by one.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query update(*c,
               "UPDATE yubikeys SET last_counter = $1, last_used_at = $2 "
               "WHERE public_id = $3 AND last_counter < $1");
  update.bind_int(counter).bind_int(now).bind_text(public_id);
  Query exists(*c, "SELECT 1 FROM yubikeys WHERE public_id = $1");
  exists.bind_text(public_id);
  return won_or_spent(update, exists, "YubiKey");
}

Status PgStore::put_webauthn_challenge(int64_t session_id, const std::string& purpose,
                                       const std::string& challenge, int64_t expires_at) {
  auto r =
      write({"INSERT INTO webauthn_challenges(session_id, purpose, challenge, expires_at) "
             "VALUES($1, $2, $3, $4) ON CONFLICT(session_id, purpose) DO UPDATE SET "
             "challenge = EXCLUDED.challenge, expires_at = EXCLUDED.expires_at",
             {session_id, Text{purpose}, Blob{challenge}, expires_at}});
  if (!r) {
    return refine(std::move(r.error()), Code::kNotFound, "not_found", "Session not found.");
  }
  return core::ok();
}

Result<std::string> PgStore::take_webauthn_challenge(int64_t session_id, const std::string& purpose,
                                                     int64_t now) {
  // DELETE ... RETURNING takes it once: a concurrent take waits for the row lock, then finds the
  // row gone.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "DELETE FROM webauthn_challenges WHERE session_id = $1 AND purpose = $2 "
          "RETURNING challenge, expires_at");
  q.bind_int(session_id).bind_text(purpose);
  TS_ASSIGN_OR_RETURN(Rows rows, q.exec());
  if (rows.size() == 0 || rows[0].col_int(1) <= now) {
    return not_found("Challenge");
  }
  return rows[0].col_blob(0);
}

Result<int> PgStore::delete_expired_webauthn_challenges(int64_t now) {
  return write({"DELETE FROM webauthn_challenges WHERE expires_at <= $1", {now}});
}

// --- SMS codes ---------------------------------------------------------------

Result<SmsReservation> PgStore::sms_reserve(const SmsCode& code, int cooldown_s, int64_t day,
                                            const std::vector<SmsQuota>& quotas) {
  // SQLite's BEGIN IMMEDIATE makes check-then-write atomic; here each rule is atomic on its own:
  // the cool-down is per user, so the user's row is locked before reading the newest code; each
  // quota is one conditional upsert (count < limit), which waits for a concurrent writer of the
  // same key and re-checks against its result. A full quota rolls back every count added before
  // it. Quota keys come in the service's fixed order, so two reservations cannot deadlock.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  SmsReservation out;
  TS_RETURN_IF_ERROR(lock_user(*c, code.user_id));
  {
    Query q(*c,
            "SELECT COALESCE(MAX(created_at), 0) FROM sms_codes "
            "WHERE user_id = $1 AND number_hash = $2 AND purpose = $3");
    q.bind_int(code.user_id).bind_text(code.number_hash).bind_text(code.purpose);
    TS_ASSIGN_OR_RETURN(int64_t newest, q.scalar("SMS code"));
    if (newest > 0 && code.created_at - newest < cooldown_s) {
      out.retry_after_s = newest + cooldown_s - code.created_at;
      return out;  // rolls back: nothing was written
    }
  }
  for (const SmsQuota& quota : quotas) {
    Query q(*c,
            "INSERT INTO sms_quotas AS q(key, day, count) VALUES($1, $2, 1) "
            "ON CONFLICT(key, day) DO UPDATE SET count = q.count + 1 WHERE q.count < $3 "
            "RETURNING count");
    q.bind_text(quota.key).bind_int(day).bind_int(quota.limit);
    TS_ASSIGN_OR_RETURN(Rows rows, q.exec());
    if (rows.size() == 0 || rows[0].col_int(0) > quota.limit) {
      out.over_quota = quota.key;
      return out;
    }
  }
  {
    Query q(*c,
            "INSERT INTO sms_codes(user_id, method_id, purpose, number_hash, code_hash, "
            "created_at, expires_at, key_id) VALUES($1, $2, $3, $4, $5, $6, $7, $8) "
            "RETURNING id");
    q.bind_int(code.user_id)
        .bind_int(code.method_id)
        .bind_text(code.purpose)
        .bind_text(code.number_hash)
        .bind_text(code.code_hash)
        .bind_int(code.created_at)
        .bind_int(code.expires_at)
        .bind_int(code.key_id);
    TS_ASSIGN_OR_RETURN(out.code_id, q.scalar("SMS code"));
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return out;
}

Status PgStore::sms_mark_sent(int64_t code_id) {
  return expect_changed(write({"UPDATE sms_codes SET sent = TRUE WHERE id = $1", {code_id}}),
                        "SMS code");
}

Status PgStore::sms_cancel(int64_t code_id, int64_t day,
                           const std::vector<std::string>& quota_keys) {
  std::vector<Write> writes{{"DELETE FROM sms_codes WHERE id = $1", {code_id}}};
  for (const std::string& key : quota_keys) {
    writes.push_back(
        {"UPDATE sms_quotas SET count = count - 1 WHERE key = $1 AND day = $2 AND count > 0",
         {Text{key}, day}});
  }
  TS_RETURN_IF_ERROR(write_all(writes));
  return core::ok();
}

Result<SmsCode> PgStore::sms_latest_code(int64_t user_id, int64_t method_id,
                                         const std::string& purpose) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_SMS_CODE_COLUMNS
              " FROM sms_codes WHERE user_id = $1 AND purpose = $2 AND sent "
              "AND ($3 = 0 OR method_id = $3) ORDER BY id DESC LIMIT 1");
  q.bind_int(user_id).bind_text(purpose).bind_int(method_id);
  return one(q, read_sms_code, "SMS code");
}

Result<bool> PgStore::sms_spend_attempt(int64_t code_id, int max_attempts, int64_t now) {
  return changed_one(
      write({"UPDATE sms_codes SET attempts = attempts + 1 WHERE id = $1 AND sent AND used_at = 0 "
             "AND expires_at > $2 AND attempts < $3",
             {code_id, now, max_attempts}}));
}

Result<bool> PgStore::sms_consume(int64_t code_id, int64_t now) {
  // Use once: a concurrent consume waits for the row lock, re-checks used_at = 0 and loses.
  return changed_one(
      write({"UPDATE sms_codes SET used_at = $1 WHERE id = $2 AND sent AND used_at = 0 "
             "AND expires_at > $1",
             {now, code_id}}));
}

Result<int> PgStore::sms_purge(int64_t created_before, int64_t before_day) {
  TS_ASSIGN_OR_RETURN(std::vector<int> changed,
                      write_all({{"DELETE FROM sms_codes WHERE created_at < $1", {created_before}},
                                 {"DELETE FROM sms_quotas WHERE day < $1", {before_day}}}));
  return changed[0];
}

// --- application passwords -------------------------------------------------------

Result<AppPassword> PgStore::create_app_password(const AppPassword& p, int max_per_user) {
  // SQLite's single statement "insert if fewer than max" is atomic under its one writer; here
  // two creations at max - 1 would both count max - 1, so the user's row is locked first and the
  // count is read after the lock.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  TS_RETURN_IF_ERROR(lock_user(*c, p.user_id));
  Query q(*c,
          "INSERT INTO app_passwords(user_id, name, scopes, lookup, hash, key_id, created_at) "
          "SELECT $1, $2, $3, $4, $5, $6, $7 WHERE "
          "(SELECT COUNT(*) FROM app_passwords WHERE user_id = $1) < $8 "
          "RETURNING " TWOSTEP_APP_PASSWORD_COLUMNS);
  q.bind_int(p.user_id)
      .bind_text(p.name)
      .bind_text(p.scopes)
      .bind_text(p.lookup)
      .bind_text(p.hash)
      .bind_int(p.key_id)
      .bind_int(p.created_at)
      .bind_int(max_per_user);
  auto rows = q.exec();
  if (!rows) {
    return refine(std::move(rows.error()), Code::kAlreadyExists, "already_exists",
                  "That application password already exists.");
  }
  if (rows->size() == 0) {
    return core::fail(Code::kFailedPrecondition, "too_many_app_passwords",
                      "You have " + std::to_string(max_per_user) +
                          " application passwords, the most allowed. Revoke one you no "
                          "longer use first.");
  }
  AppPassword created = read_app_password((*rows)[0]);
  TS_RETURN_IF_ERROR(tx.commit());
  return created;
}

Result<std::vector<AppPassword>> PgStore::app_passwords_of_user(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_APP_PASSWORD_COLUMNS
              " FROM app_passwords WHERE user_id = $1 ORDER BY created_at, id");
  q.bind_int(user_id);
  return all(q, read_app_password);
}

Result<std::pair<User, AppPassword>> PgStore::app_password_for_login(const std::string& username,
                                                                     const std::string& lookup) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  // The username expression of the index users_username_nocase, as in user_by_name.
  Query q(*c, "SELECT " TWOSTEP_USER_AND_APP_PASSWORD_COLUMNS
              " FROM users u JOIN app_passwords a ON a.user_id = u.id "
              "WHERE lower(u.username COLLATE \"C\") = lower($1 COLLATE \"C\") "
              "AND a.lookup = $2");
  q.bind_text(username).bind_text(lookup);
  return one(q, read_user_and_app_password, "Application password");
}

Status PgStore::touch_app_password(int64_t id, int64_t now, const std::string& ip) {
  return expect_changed(
      write({"UPDATE app_passwords SET last_used_at = $1, last_used_ip = $2 WHERE id = $3",
             {now, Text{display_text(ip)}, id}}),
      "Application password");
}

Result<AppPassword> PgStore::delete_app_password(int64_t user_id, int64_t id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "DELETE FROM app_passwords WHERE id = $1 AND user_id = $2 "
          "RETURNING " TWOSTEP_APP_PASSWORD_COLUMNS);
  q.bind_int(id).bind_int(user_id);
  return one(q, read_app_password, "Application password");
}

// --- push approval -----------------------------------------------------------

Status PgStore::create_push_enrollment(const PushEnrollment& e) {
  auto done =
      write({"INSERT INTO push_enrollments(token_hash, user_id, method_id, created_at, expires_at) "
             "VALUES($1, $2, $3, $4, $5)",
             {Text{e.token_hash}, e.user_id, e.method_id, e.created_at, e.expires_at}});
  if (!done) {
    return refine(std::move(done.error()), Code::kNotFound, "not_found", "Method not found.");
  }
  return core::ok();
}

Result<PushEnrollment> PgStore::use_push_enrollment(const std::string& token_hash, int64_t now) {
  // Use once: a second use waits for the row lock and finds used_at set.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "UPDATE push_enrollments SET used_at = $1 "
          "WHERE token_hash = $2 AND used_at = 0 AND expires_at > $1 "
          "RETURNING " TWOSTEP_ENROLLMENT_COLUMNS);
  q.bind_int(now).bind_text(token_hash);
  return one(q, read_enrollment, "Enrolment link");
}

Result<PushDevice> PgStore::attach_push_device(const PushDevice& d,
                                               const std::string& sealed_seed) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Transaction tx(*c);
  TS_RETURN_IF_ERROR(tx.begin());
  {
    Query q(*c,
            "UPDATE methods SET secret = $1 WHERE id = $2 AND user_id = $3 AND type = 'push' "
            "AND NOT confirmed");
    q.bind_blob(sealed_seed).bind_int(d.method_id).bind_int(d.user_id);
    TS_RETURN_IF_ERROR(expect_changed(q.run(), "Method"));
  }
  Query q(*c,
          "INSERT INTO push_devices(method_id, user_id, device_id, public_key, name, created_at, "
          "last_request_ms, last_seen_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8) "
          "RETURNING " TWOSTEP_DEVICE_COLUMNS);
  q.bind_int(d.method_id)
      .bind_int(d.user_id)
      .bind_blob(d.device_id)
      .bind_blob(d.public_key)
      .bind_text(display_text(d.name))
      .bind_int(d.created_at)
      .bind_int(d.last_request_ms)
      .bind_int(d.last_seen_at);
  auto row = one(q, read_device, "Device");
  if (!row) {
    return refine(std::move(row.error()), Code::kAlreadyExists, "device_exists",
                  "This method already has an authenticator.");
  }
  TS_RETURN_IF_ERROR(tx.commit());
  return row;
}

Result<PushDevice> PgStore::push_device_by_device_id(const std::string& device_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_DEVICE_COLUMNS " FROM push_devices WHERE device_id = $1");
  q.bind_blob(device_id);
  return one(q, read_device, "Device");
}

Result<std::vector<PushDevice>> PgStore::push_devices_of_user(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_DEVICE_COLUMNS " FROM push_devices WHERE user_id = $1 ORDER BY id");
  q.bind_int(user_id);
  return all(q, read_device);
}

Result<bool> PgStore::advance_push_device_clock(int64_t id, int64_t ts_ms, int64_t now) {
  // The replay guard is use-once like a TOTP step: one request timestamp wins once, also when
  // the same signed request reaches two instances.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query update(*c,
               "UPDATE push_devices SET last_request_ms = $1, last_seen_at = $2 "
               "WHERE id = $3 AND last_request_ms < $1");
  update.bind_int(ts_ms).bind_int(now).bind_int(id);
  Query exists(*c, "SELECT 1 FROM push_devices WHERE id = $1");
  exists.bind_int(id);
  return won_or_spent(update, exists, "Device");
}

Result<Approval> PgStore::create_approval(const Approval& a) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c,
          "INSERT INTO approvals(user_id, session_id, method_id, number, choices, created_at, "
          "expires_at, ip, user_agent) VALUES($2, $3, $4, $5, $6, $7, $8, $9, $10) "
          "RETURNING " TWOSTEP_APPROVAL_COLUMNS("$1"));
  q.bind_int(a.created_at)  // $1: "now" for the state column
      .bind_int(a.user_id)
      .bind_int(a.session_id)
      .bind_int(a.method_id)
      .bind_int(a.number)
      .bind_text(a.choices)
      .bind_int(a.created_at)
      .bind_int(a.expires_at)
      .bind_text(display_text(a.ip))
      .bind_text(display_text(a.user_agent));
  auto row = one(q, read_approval, "Approval");
  if (!row) {
    return refine(std::move(row.error()), Code::kNotFound, "not_found", "Session not found.");
  }
  return row;
}

Result<Approval> PgStore::approval_of_user(int64_t user_id, int64_t id, int64_t now) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_APPROVAL_COLUMNS(
                  "$1") " FROM approvals WHERE id = $2 AND user_id = $3");
  q.bind_int(now).bind_int(id).bind_int(user_id);
  return one(q, read_approval, "Approval");
}

Result<std::vector<Approval>> PgStore::pending_approvals_of_user(int64_t user_id, int64_t now) {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, "SELECT " TWOSTEP_APPROVAL_COLUMNS("$1") " FROM approvals WHERE user_id = $2 AND "
              "state = 'pending' AND " TWOSTEP_APPROVAL_OPEN("$1") " ORDER BY id");
  q.bind_int(now).bind_int(user_id);
  return all(q, read_approval);
}

Result<bool> PgStore::decide_approval(int64_t user_id, int64_t id, ApprovalState state,
                                      const std::string& decided_by, int64_t now) {
  if (state != ApprovalState::kApproved && state != ApprovalState::kDenied) {
    return core::fail(Code::kInvalidArgument, "invalid_request",
                      "A decision is either approved or denied.");
  }
  // Exactly one decision: answers racing on two instances queue on the row lock; the second
  // re-checks "state = 'pending'" against the first's result and changes nothing.
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query update(
      *c,
      "UPDATE approvals SET state = $2, decided_at = $1, decided_by = $3 "
      "WHERE id = $4 AND user_id = $5 AND state = 'pending' AND " TWOSTEP_APPROVAL_OPEN("$1"));
  update.bind_int(now)
      .bind_text(approval_state_name(state))
      .bind_text(display_text(decided_by))
      .bind_int(id)
      .bind_int(user_id);
  Query exists(*c, "SELECT 1 FROM approvals WHERE id = $1 AND user_id = $2");
  exists.bind_int(id).bind_int(user_id);
  return won_or_spent(update, exists, "Approval");
}

Result<bool> PgStore::consume_approval(int64_t session_id, int64_t id, int64_t now) {
  return changed_one(
      write({"UPDATE approvals SET consumed_at = $1 WHERE id = $2 AND session_id = $3 "
             "AND state = 'approved' AND consumed_at = 0",
             {now, id, session_id}}));
}

Result<int> PgStore::delete_stale_push_rows(int64_t before) {
  TS_ASSIGN_OR_RETURN(
      std::vector<int> changed,
      write_all({{"DELETE FROM approvals WHERE expires_at < $1", {before}},
                 {"DELETE FROM push_enrollments WHERE expires_at < $1", {before}}}));
  return changed[0] + changed[1];
}

Status PgStore::put_instance(const Instance& i) {
  TS_RETURN_IF_ERROR(write(put_instance_write(i)));
  return core::ok();
}

Status PgStore::delete_instance(const std::string& id) {
  return expect_changed(write({kDeleteInstance, {Text{id}}}), "Instance");
}

Result<std::vector<Instance>> PgStore::list_instances() {
  TS_ASSIGN_OR_RETURN(Lease c, lease());
  Query q(*c, kListInstances);
  return all(q, read_instance);
}

Result<int> PgStore::delete_instances_seen_before(int64_t seen_before) {
  return write({kDeleteInstancesSeenBefore, {seen_before}});
}

}  // namespace twostep::store::postgres
