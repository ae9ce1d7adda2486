// open_store: the database URL picks the backend.
#include "twostep/store/store.hpp"

#include <string_view>

#include "twostep/crypto/private_file.hpp"
#include "twostep/store/postgres/pg_store.hpp"
#include "twostep/store/sqlite/sqlite_store.hpp"

namespace twostep::store {

namespace {

using core::Code;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The scheme, when it looks like one; never the rest of the URL, which may hold a password.
std::string scheme_of(std::string_view url) {
  auto colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 32) {
    return {};
  }
  for (char ch : url.substr(0, colon)) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '-' || ch == '.';
    if (!ok) {
      return {};
    }
  }
  return std::string(url.substr(0, colon));
}

Result<std::unique_ptr<Store>> open_sqlite_file(const std::string& path) {
  // A new database holds password hashes and sealed secrets: the file is created 0600 (SQLite
  // gives its -wal and -shm files the database file's mode) in directories created 0700.
  if (auto made = crypto::create_private_file(path, {"database", "database file"}); !made) {
    return core::fail(Code::kUnavailable, "unavailable", "Cannot create the database file.",
                      made.error().message + (made.error().detail.empty() ? "" : ": ") +
                          made.error().detail);
  }
  TS_ASSIGN_OR_RETURN(auto store, sqlite::SqliteStore::open_file(path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<Store>> open_store(const std::string& url) {
  return open_store(url, StoreOptions{});
}

Result<DatabaseUrl> parse_database_url(const std::string& url) {
  std::string_view u(url);
  if (u == "sqlite::memory:") {
    return DatabaseUrl{DatabaseUrl::Kind::kSqliteMemory, {}};
  }
  if (starts_with(u, "sqlite:")) {
    std::string_view path = u.substr(7);
    if (starts_with(path, "//")) {  // sqlite:///abs/path and sqlite://rel/path
      path.remove_prefix(2);
    }
    if (path.empty()) {
      return core::fail(Code::kInvalidArgument, "invalid_database_url",
                        "database.url: \"sqlite:\" needs a file path, e.g. sqlite:var/twostep.db");
    }
    return DatabaseUrl{DatabaseUrl::Kind::kSqliteFile, std::string(path)};
  }
  if (starts_with(u, "postgresql:") || starts_with(u, "postgres:")) {
    TS_RETURN_IF_ERROR(postgres::PgStore::check_url(url));
    return DatabaseUrl{DatabaseUrl::Kind::kPostgres, {}};
  }
  std::string scheme = scheme_of(u);
  return core::fail(Code::kInvalidArgument, "invalid_database_url",
                    scheme.empty() ? "database.url: expected sqlite:PATH, sqlite::memory: or "
                                     "postgresql://USER@HOST:PORT/DATABASE"
                                   : "database.url: unsupported scheme \"" + scheme +
                                         "\"; expected sqlite:PATH, sqlite::memory: or "
                                         "postgresql://USER@HOST:PORT/DATABASE");
}

Result<std::unique_ptr<Store>> open_store(const std::string& url, const StoreOptions& options) {
  TS_ASSIGN_OR_RETURN(DatabaseUrl target, parse_database_url(url));
  switch (target.kind) {
    case DatabaseUrl::Kind::kSqliteMemory: {
      TS_ASSIGN_OR_RETURN(auto store, sqlite::SqliteStore::open_memory());
      return std::unique_ptr<Store>(std::move(store));
    }
    case DatabaseUrl::Kind::kSqliteFile:
      return open_sqlite_file(target.sqlite_path);
    case DatabaseUrl::Kind::kPostgres:
      break;
  }
  TS_ASSIGN_OR_RETURN(auto store, postgres::PgStore::open(url, options.pool_size));
  return std::unique_ptr<Store>(std::move(store));
}

Result<int> check_postgres_schema(const std::string& url) {
  TS_ASSIGN_OR_RETURN(auto store, postgres::PgStore::open(url, 1));
  TS_ASSIGN_OR_RETURN(int version, store->schema_version());
  const int known = postgres::PgStore::known_schema_version();
  if (version > known) {
    return core::fail(Code::kFailedPrecondition, "schema_too_new",
                      "database.url: the database was migrated by a newer twostep (schema "
                      "version " + std::to_string(version) + ", this binary knows up to " +
                          std::to_string(known) + ")");
  }
  return version;
}

}  // namespace twostep::store
