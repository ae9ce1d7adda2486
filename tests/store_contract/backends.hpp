// The backends the store contract runs against. Adding a backend (PostgreSQL) is one more
// entry in store_factories(); every StoreContract test then runs on it too.
#pragma once

#include <functional>
#include <memory>
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
