#include "twostep/app/config_check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "twostep/api/metrics_access.hpp"
#include "twostep/app/app.hpp"
#include "twostep/core/log.hpp"
#include "twostep/crypto/keyring.hpp"
#include "twostep/factors/webauthn/webauthn.hpp"
#include "twostep/services/sms.hpp"
#include "twostep/store/store.hpp"

namespace twostep::app {
namespace {

using Level = ConfigFinding::Level;

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_not_of('/');
  slash = slash == std::string::npos ? std::string::npos : path.rfind('/', slash);
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class Findings {
 public:
  void add(Level level, std::string text) { out_.push_back({level, std::move(text)}); }
  // An error of a check serve runs; its message names the key already unless `key` is given.
  void add_error(const core::Error& e, const std::string& key = {}) {
    // The details of these errors are system reasons (strerror), never file contents.
    const bool named = key.empty() || e.message.rfind(key, 0) == 0;
    add(Level::kError, (named ? "" : key + ": ") + e.message +
                           (e.detail.empty() ? "" : " (" + e.detail + ")"));
  }
  std::vector<ConfigFinding> take() { return std::move(out_); }

 private:
  std::vector<ConfigFinding> out_;
};

// The master key file: read and parsed as serve reads it, or created by serve when missing.
void check_master_key(const core::Config& c, Findings& f) {
  const std::string& path = c.security.master_key_file;
  const std::string key = "security.master_key_file";
  auto exists = crypto::Keyring::check_file(path);
  if (!exists) {
    f.add_error(exists.error(), key);
    return;
  }
  if (*exists) return;
  if (auto why = why_not_creatable(path); !why.empty()) {
    f.add(Level::kError, key + ": " + path + " does not exist and " + why);
    return;
  }
  f.add(Level::kNote, key + ": " + path + " does not exist yet; twostep serve creates it (mode 0600)");
}

void check_sqlite_file(const std::string& path, Findings& f) {
  const std::string key = "database.url";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      f.add(Level::kError, key + ": " + path + ": " + std::strerror(errno));
    } else if (auto why = why_not_creatable(path); !why.empty()) {
      f.add(Level::kError, key + ": " + path + " does not exist and " + why);
    } else {
      f.add(Level::kNote, key + ": " + path +
                              " does not exist yet; twostep serve creates it (mode 0600) and its "
                              "schema");
    }
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    f.add(Level::kError, key + ": " + path + " is not a regular file");
    return;
  }
  if (::access(path.c_str(), R_OK | W_OK) != 0) {
    f.add(Level::kError, key + ": " + path + " is not readable and writable by this user");
  }
  // SQLite writes its -wal and -shm files next to the database.
  const std::string dir = parent_of(path);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    f.add(Level::kError, key + ": directory " + dir +
                             " is not writable by this user (SQLite keeps its -wal and -shm "
                             "files there)");
  }
}

void check_database(const core::Config& c, const ConfigCheckOptions& options, Findings& f) {
  auto target = store::parse_database_url(c.database.url);
  if (!target) {
    f.add_error(target.error(), "database.url");
    return;
  }
  switch (target->kind) {
    case store::DatabaseUrl::Kind::kSqliteMemory:
      f.add(Level::kWarning,
            "database.url: sqlite::memory: keeps nothing after a restart (tests only)");
      return;
    case store::DatabaseUrl::Kind::kSqliteFile:
      check_sqlite_file(target->sqlite_path, f);
      return;
    case store::DatabaseUrl::Kind::kPostgres:
      break;
  }
  if (!options.connect) {
    f.add(Level::kNote,
          "database.url: a PostgreSQL URL; not connected (--connect checks the server and the "
          "schema version)");
    return;
  }
  auto version = store::check_postgres_schema(c.database.url);
  if (!version) {
    const core::Error& e = version.error();
    // libpq's reason (in the detail) names host, port and user, never the password.
    if (e.code == core::Code::kUnavailable) {
      f.add(Level::kError, "database.url: the PostgreSQL server does not answer (" + e.detail + ")");
    } else {
      f.add_error(e, "database.url");
    }
    return;
  }
  f.add(Level::kNote, "database.url: PostgreSQL answers; schema version " +
                          std::to_string(*version) +
                          " (twostep serve applies any newer migration of this version)");
}

bool local_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// The WebAuthn relying party (as SecurityKeys builds it at start-up) and what its host implies.
void check_public_url(const core::Config& c, Findings& f) {
  auto rp = factors::webauthn::relying_party(c.server.public_url, c.webauthn.origins,
                                             c.webauthn.user_verification == "required");
  if (!rp) {
    f.add_error(rp.error());
    return;
  }
  if (!c.https() && !local_host(rp->id)) {
    f.add(Level::kWarning, "server.public_url: http:// for " + rp->id +
                               ": session cookies are not Secure and no HSTS is sent; use "
                               "https:// behind a TLS proxy");
  }
  std::string domain = c.sessions.cookie_domain;
  if (!domain.empty()) {
    if (domain.front() == '.') domain.erase(0, 1);
    const std::string& host = rp->id;
    const bool inside = host == domain || (host.size() > domain.size() &&
                                           host.compare(host.size() - domain.size(),
                                                        domain.size(), domain) == 0 &&
                                           host[host.size() - domain.size() - 1] == '.');
    if (!inside) {
      f.add(Level::kError, "sessions.cookie_domain: " + c.sessions.cookie_domain +
                               " does not contain " + host +
                               " (server.public_url): browsers would refuse the session cookie");
    }
  }
}

}  // namespace

std::string why_not_creatable(const std::string& path) {
  std::string dir = parent_of(path);
  struct stat st {};
  while (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return "cannot be created: " + dir + ": " + std::strerror(errno);
    dir = parent_of(dir);
  }
  if (!S_ISDIR(st.st_mode)) return "cannot be created: " + dir + " is not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return "cannot be created: directory " + dir + " is not writable by this user";
  }
  return {};
}

std::vector<ConfigFinding> check_config(const core::Config& c, const ConfigCheckOptions& options) {
  Findings f;
  // What serve checks at start-up beyond load_config, with the functions it uses.
  if (auto hp = split_host_port(c.server.listen); !hp) f.add_error(hp.error());
  core::LogLevel level;
  if (!core::parse_log_level(c.server.log_level, &level)) {
    f.add(Level::kWarning, "server.log_level: unknown level '" + c.server.log_level +
                               "'; twostep serve logs at info");
  }
  check_public_url(c, f);
  if (auto st = services::check_sms_config(c); !st) f.add_error(st.error(), "sms");
  // Reads the token file as serve does; its errors never quote the token.
  if (auto metrics = api::MetricsAccess::load(c.metrics); !metrics) {
    f.add_error(metrics.error(), "metrics.token_file");
  }
  check_master_key(c, f);
  check_database(c, options, f);
  if (!c.server.web_dir.empty()) {
    struct stat st {};
    if (::stat(c.server.web_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      f.add(Level::kError, "server.web_dir: " + c.server.web_dir +
                               " is not a directory (the web pages would answer 404)");
    }
  }
  return f.take();
}

}  // namespace twostep::app
