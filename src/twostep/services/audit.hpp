// The security log: every sign-in outcome, lockout, session and method change is recorded
// with time, address and user agent. Never pass secrets in `detail`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "twostep/services/context.hpp"

namespace twostep::services {

class Audit {
 public:
  explicit Audit(Deps deps) : d_(deps) {}
  // Best effort: a failed audit write is logged, never turned into a user-facing failure
  // of an operation that already happened.
  void record(int64_t user_id, const std::string& event, const Client& client,
              const std::vector<std::pair<std::string, std::string>>& detail = {});
  Result<std::vector<store::AuditEvent>> of_user(int64_t user_id, int limit);
  // The operator's view: every user's entries and those of no user (store::AuditFilter).
  Result<std::vector<store::AuditEvent>> site(const store::AuditFilter& filter);
  // A site administrator's read of the same log (GET /api/v1/admin/audit; the caller checked
  // that `admin_id` may): `user` ("" = everyone) is a username that must name an account
  // (kNotFound "not_found" otherwise). The read is audited on the admin as site_audit_viewed.
  Result<std::vector<store::AuditEvent>> site_for_admin(int64_t admin_id, const std::string& user,
                                                        store::AuditFilter filter,
                                                        const Client& client);
  // The same for an organisation's own log; actor_id 0 = the operator, subject_id 0 = none.
  void record_org(int64_t org_id, int64_t actor_id, int64_t subject_id, const std::string& event,
                  const Client& client,
                  const std::vector<std::pair<std::string, std::string>>& detail = {});

 private:
  Deps d_;
};

// JSON object text from string pairs (values escaped).
std::string json_object(const std::vector<std::pair<std::string, std::string>>& kv);

}  // namespace twostep::services
