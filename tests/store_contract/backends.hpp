// The backends the store contract runs against: SQLite in memory and in a file, PostgreSQL in a
// fresh database of the test cluster. Every StoreContract test runs on each entry.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace twostep::store::contract {

// One fresh, empty database. Dropping the object deletes what it created.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  // The database.url that reaches this database; open_store(url()) may be called many times.
  virtual std::string url() const = 0;
};

struct StoreFactory {
  std::string name;  // gtest parameter name: [A-Za-z0-9_]
  std::function<std::unique_ptr<TestDatabase>()> make;
  // Whether a second open_store(url()) reaches the same data (files, servers), so that tests
  // of reopening and of several processes sharing one database apply.
  bool shared = false;
};

const std::vector<StoreFactory>& store_factories();

// GoogleTest prints a parameter with this: the name, not the object's bytes (which differ from
// run to run and would end up in ctest's test names).
inline void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

// PostgreSQL test helpers. The cluster is named by TWOSTEP_TEST_PG_URL (an administrator's URL,
// e.g. postgresql://twostep@127.0.0.1:PORT/postgres); without it these throw, so a test that
// needs PostgreSQL fails loudly rather than being skipped.
std::string postgres_admin_url();
// "t_" + 16 random hex digits: a database name that needs no quoting.
std::string random_database_name();
// The same URL pointing at another database.
std::string postgres_url_for(const std::string& url, const std::string& database);
// Runs SQL through its own connection; returns the first column of each row. Throws on error.
std::vector<std::string> postgres_admin(const std::string& url, const std::string& sql);

// A fresh empty database "t_<random>" in the test cluster; dropping the object drops it (and
// ends its connections).
class PostgresDatabase final : public TestDatabase {
 public:
  PostgresDatabase();
  ~PostgresDatabase() override;
  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;
  std::string url() const override;
  const std::string& name() const { return name_; }
  const std::string& admin_url() const { return admin_url_; }

 private:
  std::string admin_url_;
  std::string name_;
};

// A temporary directory, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace twostep::store::contract
