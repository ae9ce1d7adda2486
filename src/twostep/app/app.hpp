// Wires everything together: config → keyring → store (migrated) → services → worker pools →
// routes → HTTP server. Also used by the CLI for offline commands (no server).
#pragma once

#include <memory>
#include <string>

#include "twostep/core/clock.hpp"
#include "twostep/core/config.hpp"
#include "twostep/core/metrics.hpp"
#include "twostep/crypto/keyring.hpp"
#include "twostep/services/accounts.hpp"
#include "twostep/services/app_passwords.hpp"
#include "twostep/services/approvals.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/events.hpp"
#include "twostep/services/login.hpp"
#include "twostep/services/orgs.hpp"
#include "twostep/services/security_keys.hpp"
#include "twostep/services/sessions.hpp"
#include "twostep/services/sms.hpp"
#include "twostep/services/sms_gateway.hpp"
#include "twostep/services/throttle.hpp"
#include "twostep/services/twofa.hpp"
#include "twostep/store/store.hpp"

namespace twostep::events {
class PgEventBus;
}

namespace twostep::app {

class App {
 public:
  // Opens (creating if needed) the master key and the database, applies migrations and
  // builds the services. Errors are start-up errors: one clear line for the operator.
  static core::Result<std::unique_ptr<App>> open(core::Config config);
  ~App();

  // Runs the HTTP server until SIGINT/SIGTERM; returns the process exit code.
  int serve();

  // For command-line changes, which run without serve(): sends what the services announced
  // (sessions ended, application passwords revoked, a user disabled) to the running instances
  // on PostgreSQL, so that their /verify caches drop the entries at once. On SQLite there is
  // no bus between processes: nothing to do (a running server sees the change when its cache
  // entries expire, sessions.verify_cache_ms). kUnavailable when the database cannot be reached.
  core::Status announce_changes();

  const core::Config& config() const { return config_; }
  store::Store& store() { return *store_; }
  const crypto::Keyring& keyring() const { return *keyring_; }
  services::Accounts& accounts() { return *accounts_; }
  services::Sessions& sessions() { return *sessions_; }
  services::TwoFactor& twofa() { return *twofa_; }
  services::Audit& audit() { return *audit_; }
  services::Sms& sms() { return *sms_; }
  services::SmsGateway& sms_gateway() { return *sms_gateway_; }
  services::Orgs& orgs() { return *orgs_; }
  services::SecurityKeys& security_keys() { return *security_keys_; }
  services::AppPasswords& app_passwords() { return *app_passwords_; }

 private:
  explicit App(core::Config config) : config_(std::move(config)) {}

  core::Config config_;
  core::SystemClock clock_;
  core::Metrics metrics_;
  std::unique_ptr<crypto::Keyring> keyring_;
  std::unique_ptr<store::Store> store_;
  // Before the services that subscribe to it. On PostgreSQL, pg_events_ is the same object
  // (it needs the server's io_context to listen).
  std::unique_ptr<services::EventBus> events_;
  events::PgEventBus* pg_events_ = nullptr;
  std::unique_ptr<services::Audit> audit_;
  std::unique_ptr<services::Throttles> throttles_;
  std::unique_ptr<services::Accounts> accounts_;
  std::unique_ptr<services::Sessions> sessions_;
  std::unique_ptr<services::TwoFactor> twofa_;
  std::unique_ptr<services::Orgs> orgs_;  // before login_, which uses it
  std::unique_ptr<services::Login> login_;
  std::unique_ptr<services::SmsGateway> sms_gateway_;
  std::unique_ptr<services::Sms> sms_;
  std::unique_ptr<services::SecurityKeys> security_keys_;
  std::unique_ptr<services::AppPasswords> app_passwords_;
  std::unique_ptr<services::Approvals> approvals_;
};

// "127.0.0.1:8080" / "[::1]:8080" → host, port.
core::Result<std::pair<std::string, uint16_t>> split_host_port(const std::string& listen);

}  // namespace twostep::app
