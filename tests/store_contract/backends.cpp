#include "backends.hpp"

#include <libpq-fe.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace twostep::store::contract {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "twostep_store_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

class SqliteMemory final : public TestDatabase {
 public:
  std::string url() const override { return "sqlite::memory:"; }
};

class SqliteFile final : public TestDatabase {
 public:
  // A directory that does not exist yet: open_store must create it.
  std::string url() const override { return "sqlite:" + dir_.path() + "/var/db/twostep.db"; }

 private:
  TempDir dir_;
};

}  // namespace

std::string postgres_admin_url() {
  const char* url = std::getenv("TWOSTEP_TEST_PG_URL");
  if (url == nullptr || *url == '\0') {
    // Never a silent skip: CI always provides a cluster, so a missing one is a broken setup.
    throw std::runtime_error(
        "TWOSTEP_TEST_PG_URL is not set, so the PostgreSQL backend cannot be tested. ctest sets "
        "it (fixture pg_cluster); by hand: export TWOSTEP_TEST_PG_URL=$(scripts/pg-test-cluster "
        "start)");
  }
  return url;
}

std::string random_database_name() {
  static const char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string name = "t_";
  for (int i = 0; i < 16; ++i) {
    name.push_back(kHex[rd() % 16]);
  }
  return name;
}

std::string postgres_url_for(const std::string& url, const std::string& database) {
  // postgresql://[userinfo@]host[:port][/dbname][?params]: replace dbname, keep the rest.
  size_t authority = url.find("://");
  if (authority == std::string::npos) {
    throw std::runtime_error("TWOSTEP_TEST_PG_URL is not a postgresql:// URL");
  }
  size_t path = url.find_first_of("/?", authority + 3);
  std::string base = path == std::string::npos ? url : url.substr(0, path);
  size_t query = url.find('?', authority + 3);
  return base + "/" + database + (query == std::string::npos ? "" : url.substr(query));
}

std::vector<std::string> postgres_admin(const std::string& url, const std::string& sql) {
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(url.c_str()), PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot reach the test PostgreSQL cluster: " +
                             std::string(PQerrorMessage(conn.get())));
  }
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(conn.get(), sql.c_str()), PQclear);
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + PQresultErrorMessage(result.get()));
  }
  std::vector<std::string> rows;
  for (int i = 0; i < PQntuples(result.get()); ++i) {
    rows.emplace_back(PQgetisnull(result.get(), i, 0) ? "" : PQgetvalue(result.get(), i, 0));
  }
  return rows;
}

PostgresDatabase::PostgresDatabase()
    : admin_url_(postgres_admin_url()), name_(random_database_name()) {
  postgres_admin(admin_url_, "CREATE DATABASE " + name_);
}

PostgresDatabase::~PostgresDatabase() {
  try {
    postgres_admin(admin_url_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The cluster is thrown away after the run; a leftover database harms nobody.
  }
}

std::string PostgresDatabase::url() const { return postgres_url_for(admin_url_, name_); }

const std::vector<StoreFactory>& store_factories() {
  static const std::vector<StoreFactory> factories = {
      {"sqlite_memory", [] { return std::make_unique<SqliteMemory>(); }, false},
      {"sqlite_file", [] { return std::make_unique<SqliteFile>(); }, true},
      {"postgres", [] { return std::make_unique<PostgresDatabase>(); }, true},
  };
  return factories;
}

}  // namespace twostep::store::contract
