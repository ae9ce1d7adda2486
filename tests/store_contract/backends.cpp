#include "backends.hpp"

#include <stdlib.h>

#include <filesystem>
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

const std::vector<StoreFactory>& store_factories() {
  static const std::vector<StoreFactory> factories = {
      {"sqlite_memory", [] { return std::make_unique<SqliteMemory>(); }, false},
      {"sqlite_file", [] { return std::make_unique<SqliteFile>(); }, true},
      // {"postgres", [] { return std::make_unique<PostgresSchema>(); }, true},
  };
  return factories;
}

}  // namespace twostep::store::contract
