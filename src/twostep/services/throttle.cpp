#include "twostep/services/throttle.hpp"

#include <ctime>

namespace twostep::services {

core::Error locked_error(int64_t now, int64_t until) {
  int64_t wait = std::max<int64_t>(1, until - now);
  std::time_t t = static_cast<std::time_t>(until);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S UTC", &tm);
  std::string when = wait < 120 ? std::to_string(wait) + " seconds"
                                : std::to_string((wait + 59) / 60) + " minutes";
  return core::Error{core::Code::kResourceExhausted, "locked",
                     "Too many failed attempts. Try again in " + when + " (at " + buf + ").",
                     {}, static_cast<int>(wait)};
}

Status Throttles::check(const std::string& key) {
  TS_ASSIGN_OR_RETURN(store::Throttle t, d_.store.throttle_get(key));
  const int64_t now = d_.clock.unix_now();
  if (t.locked_until > now) return tl::unexpected(locked_error(now, t.locked_until));
  return {};
}

Result<bool> Throttles::hit(const std::string& key, const ThrottleRule& rule) {
  const int64_t now = d_.clock.unix_now();
  TS_ASSIGN_OR_RETURN(store::Throttle t,
                      d_.store.throttle_hit(key, now, rule.window_s, rule.max, rule.lock_s));
  return t.locked_until == now + rule.lock_s;
}

void Throttles::clear(const std::string& key) {
  // Nearly every successful sign-in has nothing to clear: a read (no write lock, no WAL
  // commit) tells, and the write is only paid when there is a row. A failure recorded between
  // the two is kept, as it would be had it come just after the clear.
  auto t = d_.store.throttle_get(key);
  if (t && t->count == 0 && t->locked_until == 0) {
    return;
  }
  (void)d_.store.throttle_clear(key);
}

}  // namespace twostep::services
