// Rate limits and temporary lockouts on top of the store's atomic throttle counters, so that
// they hold across server instances. Keys: "login:user:<name>", "login:ip:<addr>",
// "2fa:user:<id>", "signup:ip:<addr>".
#pragma once

#include <string>

#include "twostep/services/context.hpp"

namespace twostep::services {

struct ThrottleRule {
  int max = 10;
  int window_s = 900;
  int lock_s = 900;
};

class Throttles {
 public:
  explicit Throttles(Deps deps) : d_(deps) {}
  // kResourceExhausted "locked" (retry_after_s set, message says when it ends) while locked.
  Status check(const std::string& key);
  // Records a failure; returns true when this failure started a lock.
  Result<bool> hit(const std::string& key, const ThrottleRule& rule);
  void clear(const std::string& key);

 private:
  Deps d_;
};

core::Error locked_error(int64_t now, int64_t until);

}  // namespace twostep::services
