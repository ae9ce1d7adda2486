// A numbered schema migration, embedded at build time from store/<backend>/migrations/*.sql.
#pragma once

#include <string>
#include <vector>

namespace twostep::store {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

extern const std::vector<Migration> kSqliteMigrations;
extern const std::vector<Migration> kPostgresMigrations;

}  // namespace twostep::store
