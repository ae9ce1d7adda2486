// Configuration: a TOML file (toml++) where every key can be overridden by an environment
// variable TWOSTEP_<SECTION>_<KEY>. Defaults need no file at all.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/error.hpp"

namespace twostep::core {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  std::string public_url = "http://localhost:8080";
  std::vector<std::string> trusted_proxies;  // addresses or CIDR ranges
  int threads = 0;                           // 0 = hardware cores
  int max_connections = 10000;
  int read_timeout_s = 10;
  int idle_timeout_s = 60;
  int body_limit = 64 * 1024;
  int header_limit = 8 * 1024;
  int shutdown_grace_s = 10;
  // `serve` refreshes its row of the instances table this often; a row unseen for 3
  // heartbeats is stale (`twostep instances`, `twostep key use`).
  int heartbeat_s = 15;
  std::string web_dir;  // empty = the web/ folder the binary was built with
  std::string log_level = "info";
};

struct DatabaseConfig {
  std::string url = "sqlite:var/twostep.db";
  int pool_size = 4;
};

struct SecurityConfig {
  std::string master_key_file = "var/master.key";
  // Argon2id cost for passwords. m in KiB.
  uint32_t argon2_memory_kib = 19 * 1024;
  uint32_t argon2_iterations = 2;
  // Worker pool for password hashing: threads and queue bound (a full queue is a 503).
  int hash_threads = 0;  // 0 = cores
  int hash_queue = 64;
  int db_threads = 4;
  int db_queue = 1024;
};

struct AccountsConfig {
  bool open_signup = true;
  int password_min_length = 10;
  int password_max_length = 256;
  int password_min_score = 3;  // zxcvbn 0..4
  // Protocols (IMAP, WebDAV) accept the main password while two-step verification is off;
  // false = application passwords only, for everyone.
  bool protocol_main_password = true;
};

struct OrgsConfig {
  // Whether any signed-in user may create an organisation (and so add any account to it, see
  // its 2FA status and reset it). Off: only the operator creates them (twostep org create).
  bool user_create = false;
};

struct SessionsConfig {
  std::string cookie_domain;          // empty = host-only
  int remember_days = 30;             // "stay signed in" sliding lifetime
  int idle_timeout_s = 12 * 3600;     // without "stay signed in"
  int absolute_timeout_days = 90;     // hard cap for any session
  int pending_timeout_s = 300;        // pending second step
  int reauth_window_s = 300;          // "recent re-authentication"
  int verify_cache_ms = 1000;         // revocation takes effect within this
};

struct RateLimitConfig {
  int login_account_max = 10;      // failures per account per window
  int login_account_window_s = 900;
  int login_account_lock_s = 900;
  int login_ip_max = 50;           // failures per client address per window
  int login_ip_window_s = 900;
  int login_ip_lock_s = 900;
  int second_factor_pending_max = 5;   // wrong codes end a pending sign-in
  int second_factor_account_max = 20;  // per account per hour
  int second_factor_window_s = 3600;
  int second_factor_lock_s = 3600;
  int signup_ip_max = 20;
  int signup_ip_window_s = 3600;
};

struct TotpConfig {
  std::string issuer = "twostep";
  int window = 1;  // accept current step +- window
  int unconfirmed_ttl_s = 900;
};

struct SmsConfig {
  std::vector<std::string> allowed_regions = {"CH", "FR", "BE", "DE"};
  std::string gateway = "log";  // off (no codes by SMS), log (development), http, twilio
  // http driver: a JSON POST to http_url; the body template's {to} and {message} are replaced
  // by the JSON-escaped values; each header is "Name: value" (credentials go here).
  std::string http_url;
  std::vector<std::string> http_headers;
  std::string http_body = R"({"to":"{to}","message":"{message}"})";
  // twilio driver: Messages API with HTTP Basic (account SID + auth token); `From` or a
  // messaging service.
  std::string twilio_base_url = "https://api.twilio.com";
  std::string twilio_account_sid;
  std::string twilio_auth_token;
  std::string twilio_from;
  std::string twilio_messaging_service_sid;
  // Delivery: connect timeout per attempt, total time for one message (all attempts), and
  // how many times a failed attempt (no connection, 429, 502-504) is retried within that time.
  int connect_timeout_ms = 2000;
  int timeout_ms = 8000;
  int retries = 2;
  int threads = 4;  // the sms worker pool (blocking gateway calls); a full queue is a 503
  int queue = 32;
  // Codes.
  int code_ttl_s = 300;
  int max_attempts = 5;
  int resend_cooldown_s = 60;
  // Daily caps (UTC days), counted only for messages the gateway accepted.
  int user_daily_max = 10;                  // per account
  int number_daily_max = 5;                 // per phone number, whatever the account
  int ip_daily_max = 200;                   // per client address (offices share one: keep it roomy)
  int region_daily_budget = 1000;           // per region, unless region_budgets says otherwise
  std::vector<std::string> region_budgets;  // "CH=5000", "BE=200"
};

// Push approval: the twostep-auth companion and approvals from signed-in devices.
struct PushConfig {
  int approval_ttl_s = 120;    // an approval request's lifetime
  int enrollment_ttl_s = 600;  // the single-use enrolment link
  int max_requests = 3;        // approval requests per user per window (push bombing)
  int request_window_s = 300;
  int max_clock_skew_s = 60;  // signed requests: |device clock - server clock|
  int heartbeat_s = 15;       // event streams send a comment this often
};

// Security keys (WebAuthn). The RP id is the host of server.public_url and its origin is
// always accepted; `origins` adds others (e.g. a second name for the same server).
struct WebauthnConfig {
  std::vector<std::string> origins;
  std::string rp_name = "twostep";              // shown by the browser and the key
  std::string user_verification = "preferred";  // required | preferred | discouraged
  std::string attestation = "none";             // none | indirect | direct (conveyance)
};

// Who may read GET /metrics. The client address is the one the server resolves (X-Forwarded-For
// only from server.trusted_proxies). An empty `allow` turns metrics off (404).
struct MetricsConfig {
  std::vector<std::string> allow = {"127.0.0.0/8", "::1/128"};  // addresses or CIDR ranges
  std::string token_file;  // set: scrapes also need "Authorization: Bearer <its content>"
};

// Site administrators: these accounts, once two-step verification is on, read the whole site's
// security log in the web console (GET /api/v1/admin/audit). Canonical usernames.
struct AdminConfig {
  std::vector<std::string> users;
};

struct Config {
  ServerConfig server;
  DatabaseConfig database;
  SecurityConfig security;
  AccountsConfig accounts;
  OrgsConfig orgs;
  SessionsConfig sessions;
  RateLimitConfig rate_limit;
  TotpConfig totp;
  SmsConfig sms;
  PushConfig push;
  WebauthnConfig webauthn;
  MetricsConfig metrics;
  AdminConfig admin;

  // True when public_url is https: cookies get Secure, responses get HSTS.
  bool https() const;
  // Whether the (canonical) username is listed in [admin] users.
  bool site_admin(std::string_view username) const;
};

// Loads defaults, then the file (if given; a missing given file is an error), then the
// environment. Unknown keys, wrong types and bad values are errors naming the key.
Result<Config> load_config(const std::optional<std::string>& file,
                           const std::map<std::string, std::string>& env);

// The effective configuration as TOML: every section and key in a fixed order, defaults
// included, secrets replaced by "<redacted>" (`twostep config show`). load_config accepts the
// text again.
std::string config_toml(const Config& config);

// A URL with its password (userinfo "user:PASSWORD@", a "password=" parameter) replaced by
// <redacted>; anything else unchanged. For printing database and gateway URLs.
std::string redact_url(std::string_view url);

// The process environment as a map (only TWOSTEP_* entries).
std::map<std::string, std::string> twostep_environment();

}  // namespace twostep::core
