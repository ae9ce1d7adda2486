// `twostep config check`: what `twostep serve` would refuse at start-up or trip over later,
// found without side effects — nothing is created, migrated or written, and no finding quotes a
// secret (a PostgreSQL password, the Twilio token, the metrics token).
#pragma once

#include <string>
#include <vector>

#include "twostep/core/config.hpp"

namespace twostep::app {

struct ConfigFinding {
  enum class Level {
    kError,    // serve would refuse to start, or a part would not work
    kWarning,  // works, but is probably not what a production site wants
    kNote,     // for information: what serve will do (create the key, migrate)
  };
  Level level = Level::kError;
  std::string text;  // "section.key: what"
};

struct ConfigCheckOptions {
  bool connect = false;  // PostgreSQL: connect and read the schema version
};

// Checks a configuration that load_config accepted (its own checks are not repeated).
std::vector<ConfigFinding> check_config(const core::Config& config,
                                        const ConfigCheckOptions& options);

// Nothing at `path`: why it could not be created there (the nearest existing ancestor is not a
// writable directory), or an empty string when it could.
std::string why_not_creatable(const std::string& path);

}  // namespace twostep::app
