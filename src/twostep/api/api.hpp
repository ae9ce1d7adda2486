// The HTTP API: builds the route table over the services. Handlers are short scripts:
// parse the body, call one service on the right worker pool, map the result to JSON.
#pragma once

#include <memory>
#include <string>

#include "twostep/api/metrics_access.hpp"
#include "twostep/core/config.hpp"
#include "twostep/core/metrics.hpp"
#include "twostep/http/pool.hpp"
#include "twostep/http/router.hpp"
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
#include "twostep/services/throttle.hpp"
#include "twostep/services/twofa.hpp"

namespace twostep::api {

struct Services {
  services::Audit& audit;
  services::Accounts& accounts;
  services::Sessions& sessions;
  services::TwoFactor& twofa;
  services::Login& login;
  services::Throttles& throttles;
  services::Sms& sms;
  services::Orgs& orgs;
  services::SecurityKeys& security_keys;
  services::AppPasswords& app_passwords;
  services::Approvals& approvals;  // push approval
  services::EventBus& events;
};

struct Pools {
  http::WorkerPool& hash;  // Argon2id: sized by a memory budget
  http::WorkerPool& db;    // store calls
  http::WorkerPool& sms;   // SMS gateway calls (block on the network for seconds)
};

struct ApiOptions {
  const core::Config& config;
  std::string web_dir;           // static files; empty = none
  MetricsAccess metrics_access;  // who may read /metrics (loaded at start-up)
};

// Adds every route to `router`. The returned handle owns the handlers' state: keep it alive
// as long as the router is used.
std::shared_ptr<void> add_routes(http::Router& router, const ApiOptions& opts, Services services, Pools pools,
                core::Metrics& metrics);

}  // namespace twostep::api
