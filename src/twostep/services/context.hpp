// What every service is built from: the store, the injected clock, the keyring, the config.
// Services are plain C++ with no HTTP types; they are synchronous and run on worker pools.
#pragma once

#include <string>

#include "twostep/core/clock.hpp"
#include "twostep/core/config.hpp"
#include "twostep/core/metrics.hpp"
#include "twostep/crypto/keyring.hpp"
#include "twostep/store/store.hpp"

namespace twostep::services {

using core::Result;
using core::Status;

struct Deps {
  store::Store& store;
  const core::Clock& clock;
  const crypto::Keyring& keyring;
  const core::Config& config;
  core::Metrics& metrics;
};

// Who is asking: for audit entries, rate limits and the sessions list.
struct Client {
  std::string ip;
  std::string user_agent;
};

}  // namespace twostep::services
