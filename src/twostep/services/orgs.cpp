#include "twostep/services/orgs.hpp"

#include <algorithm>
#include <charconv>

#include "twostep/core/log.hpp"
#include "twostep/services/accounts.hpp"
#include "twostep/services/app_passwords.hpp"

namespace twostep::services {
using core::Code;
using core::fail;
using store::OrgRole;
using store::SessionState;

namespace {
constexpr int64_t kDay = 86400;
// Adding by username tells an admin whether an account exists: misses are rate limited.
constexpr ThrottleRule kUnknownUserRule{30, 3600, 3600};

core::Error no_such_org() {
  return core::Error{Code::kNotFound, "not_found", "No such organisation.", {}, 0};
}
core::Error no_such_member() {
  return core::Error{Code::kNotFound, "not_found", "No such member.", {}, 0};
}
core::Error no_such_user() {
  return core::Error{Code::kNotFound, "not_found", "No such user.", {}, 0};
}
core::Error forbidden(std::string message) {
  return core::Error{Code::kPermissionDenied, "forbidden", std::move(message), {}, 0};
}

// The member's own log does not show the admin's address: it says who and which organisation.
const Client kOrgClient{"", ""};
}  // namespace

int64_t enrollment_deadline(const store::Org& org, int64_t joined_at) {
  return std::max(org.policy_since, joined_at) + int64_t{org.grace_days} * kDay;
}

Orgs::Orgs(Deps deps, Audit& audit, Sessions& sessions, TwoFactor& twofa, Throttles& throttles)
    : d_(deps), audit_(audit), sessions_(sessions), twofa_(twofa), throttles_(throttles) {}

Result<std::string> Orgs::clean_name(std::string_view name) {
  std::string out(name);
  auto space = [](unsigned char c) { return c == ' ' || c == '\t'; };
  while (!out.empty() && space(out.back())) out.pop_back();
  while (!out.empty() && space(out.front())) out.erase(out.begin());
  if (out.size() < 2 || out.size() > 64) {
    return fail(Code::kInvalidArgument, "invalid_request", "name: 2 to 64 characters.");
  }
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) {
      return fail(Code::kInvalidArgument, "invalid_request", "name: no control characters.");
    }
  }
  if (std::all_of(out.begin(), out.end(), [](unsigned char c) { return c >= '0' && c <= '9'; })) {
    return fail(Code::kInvalidArgument, "invalid_request", "name: must not be only digits.");
  }
  return out;
}

void Orgs::record(int64_t org_id, const Actor& actor, int64_t subject_id, const std::string& event,
                  const Client& client,
                  const std::vector<std::pair<std::string, std::string>>& detail) {
  audit_.record_org(org_id, actor.user_id, subject_id, event, client, detail);
}

Result<store::OrgRole> Orgs::authorize(const Actor& actor, int64_t org_id, OrgRole min) {
  if (actor.is_operator()) {
    auto org = d_.store.org_by_id(org_id);
    if (!org) {
      if (org.error().code == Code::kNotFound) return tl::unexpected(no_such_org());
      return tl::unexpected(org.error());
    }
    return OrgRole::kOwner;
  }
  auto m = d_.store.org_member(org_id, actor.user_id);
  if (!m) {
    // Not a member, or no such organisation: the same answer, so nothing leaks.
    if (m.error().code == Code::kNotFound) return tl::unexpected(no_such_org());
    return tl::unexpected(m.error());
  }
  if (m->role < min) {
    return tl::unexpected(forbidden("Only admins and owners of this organisation can do that."));
  }
  return m->role;
}

Result<store::OrgMember> Orgs::member_named(int64_t org_id, std::string_view username) {
  TS_ASSIGN_OR_RETURN(store::User user, user_named(d_.store, username, no_such_member()));
  auto m = d_.store.org_member(org_id, user.id);
  if (!m && m.error().code == Code::kNotFound) return tl::unexpected(no_such_member());
  return m;
}

Result<store::Org> Orgs::create(const Actor& actor, std::string_view name,
                                std::string_view owner_username, const Client& client) {
  if (!actor.is_operator() && !d_.config.orgs.user_create) {
    return fail(Code::kPermissionDenied, "forbidden",
                "Organisations are created by the server operator on this server.");
  }
  TS_ASSIGN_OR_RETURN(std::string clean, clean_name(name));
  TS_ASSIGN_OR_RETURN(store::User owner, user_named(d_.store, owner_username, no_such_user()));
  if (!actor.is_operator() && owner.id != actor.user_id) {
    return tl::unexpected(forbidden("You can only create an organisation that you own."));
  }
  TS_ASSIGN_OR_RETURN(store::Org org, d_.store.create_org(clean, owner.id, d_.clock.unix_now()));
  record(org.id, actor, owner.id, "org_created", client, {{"name", org.name}});
  audit_.record(owner.id, "org_member_added", actor.is_operator() ? kOrgClient : client,
                {{"org", org.name}, {"role", "owner"}, {"by", actor.username}});
  return org;
}

Result<std::vector<store::OrgMembership>> Orgs::of_user(int64_t user_id) {
  return d_.store.orgs_of_user(user_id);
}

Result<store::Org> Orgs::find(std::string_view id_or_name) {
  int64_t id = 0;
  auto [p, ec] = std::from_chars(id_or_name.data(), id_or_name.data() + id_or_name.size(), id);
  auto org = (ec == std::errc() && p == id_or_name.data() + id_or_name.size())
                 ? d_.store.org_by_id(id)
                 : d_.store.org_by_name(std::string(id_or_name));
  if (!org && org.error().code == Code::kNotFound) return tl::unexpected(no_such_org());
  return org;
}

Result<std::vector<store::Org>> Orgs::list() { return d_.store.list_orgs(); }

Result<OrgMembers> Orgs::members(const Actor& actor, int64_t org_id) {
  OrgMembers out;
  TS_ASSIGN_OR_RETURN(out.viewer_role, authorize(actor, org_id, OrgRole::kAdmin));
  TS_ASSIGN_OR_RETURN(out.org, d_.store.org_by_id(org_id));
  TS_ASSIGN_OR_RETURN(auto rows, d_.store.org_members(org_id));
  for (auto& m : rows) {
    MemberStatus s;
    if (out.org.require_2fa && m.method_types.empty()) {
      s.enrollment_deadline = enrollment_deadline(out.org, m.added_at);
    }
    s.member = std::move(m);
    out.members.push_back(std::move(s));
  }
  return out;
}

Status Orgs::add_member(const Actor& actor, int64_t org_id, std::string_view username, OrgRole role,
                        const Client& client) {
  TS_ASSIGN_OR_RETURN(OrgRole mine, authorize(actor, org_id, OrgRole::kAdmin));
  if (role == OrgRole::kOwner && mine != OrgRole::kOwner) {
    return tl::unexpected(forbidden("Only owners can add an owner."));
  }
  const std::string key = "org:lookup:" + std::to_string(actor.user_id);
  TS_RETURN_IF_ERROR(throttles_.check(key));
  auto user = user_named(d_.store, username, no_such_user());
  if (!user) {
    if (user.error().code != Code::kNotFound) return tl::unexpected(user.error());
    if (!actor.is_operator()) (void)throttles_.hit(key, kUnknownUserRule);
    return tl::unexpected(user.error());
  }
  TS_RETURN_IF_ERROR(d_.store.add_org_member(org_id, user->id, role, d_.clock.unix_now()));
  TS_ASSIGN_OR_RETURN(store::Org org, d_.store.org_by_id(org_id));
  const char* r = store::org_role_name(role);
  record(org_id, actor, user->id, "member_added", client, {{"role", r}});
  audit_.record(user->id, "org_member_added", kOrgClient,
                {{"org", org.name}, {"role", r}, {"by", actor.username}});
  // A newcomer to an organisation with no grace period is held to the policy at once.
  enforce_after_change(user->id);
  return {};
}

Status Orgs::set_role(const Actor& actor, int64_t org_id, std::string_view username, OrgRole role,
                      const Client& client) {
  TS_ASSIGN_OR_RETURN(OrgRole mine, authorize(actor, org_id, OrgRole::kAdmin));
  TS_ASSIGN_OR_RETURN(store::OrgMember target, member_named(org_id, username));
  if (mine != OrgRole::kOwner && (target.role == OrgRole::kOwner || role == OrgRole::kOwner)) {
    return tl::unexpected(forbidden("Only owners can change who is an owner."));
  }
  if (target.role == role) return {};
  TS_RETURN_IF_ERROR(d_.store.set_org_member_role(org_id, target.user_id, role));
  TS_ASSIGN_OR_RETURN(store::Org org, d_.store.org_by_id(org_id));
  const char* from = store::org_role_name(target.role);
  const char* to = store::org_role_name(role);
  record(org_id, actor, target.user_id, "member_role_changed", client,
         {{"from", from}, {"to", to}});
  audit_.record(target.user_id, "org_role_changed", kOrgClient,
                {{"org", org.name}, {"from", from}, {"to", to}, {"by", actor.username}});
  return {};
}

Status Orgs::remove_member(const Actor& actor, int64_t org_id, std::string_view username,
                           const Client& client) {
  TS_ASSIGN_OR_RETURN(OrgRole mine, authorize(actor, org_id, OrgRole::kAdmin));
  TS_ASSIGN_OR_RETURN(store::OrgMember target, member_named(org_id, username));
  if (mine != OrgRole::kOwner && target.role == OrgRole::kOwner) {
    return tl::unexpected(forbidden("Only owners can remove an owner."));
  }
  TS_RETURN_IF_ERROR(d_.store.remove_org_member(org_id, target.user_id));
  TS_ASSIGN_OR_RETURN(store::Org org, d_.store.org_by_id(org_id));
  record(org_id, actor, target.user_id, "member_removed", client,
         {{"role", store::org_role_name(target.role)}});
  audit_.record(target.user_id, "org_member_removed", kOrgClient,
                {{"org", org.name}, {"by", actor.username}});
  // This organisation's policy no longer holds them (another one may).
  enforce_after_change(target.user_id);
  return {};
}

Result<store::Org> Orgs::set_policy(const Actor& actor, int64_t org_id, bool require_2fa,
                                    int grace_days, const Client& client) {
  TS_RETURN_IF_ERROR(authorize(actor, org_id, OrgRole::kAdmin));
  if (grace_days < 0 || grace_days > kMaxGraceDays) {
    return fail(Code::kInvalidArgument, "invalid_request",
                "grace_days: 0 to " + std::to_string(kMaxGraceDays) + ".");
  }
  if (require_2fa && !actor.is_operator()) {
    // As GitHub does: whoever requires it has it, so nobody locks themselves out by mistake.
    TS_ASSIGN_OR_RETURN(bool on, twofa_.enabled(actor.user_id));
    if (!on) {
      return fail(Code::kFailedPrecondition, "twofa_required_first",
                  "Turn on two-step verification for yourself before requiring it.");
    }
  }
  TS_ASSIGN_OR_RETURN(store::Org before, d_.store.org_by_id(org_id));
  TS_ASSIGN_OR_RETURN(store::Org org, d_.store.set_org_policy(org_id, require_2fa, grace_days,
                                                              d_.clock.unix_now()));
  if (before.require_2fa != org.require_2fa || before.grace_days != org.grace_days) {
    record(org_id, actor, 0, "policy_changed", client,
           {{"require_2fa", org.require_2fa ? "true" : "false"},
            {"grace_days", std::to_string(org.grace_days)}});
  }
  auto members = d_.store.org_members(org_id);
  if (!members) {
    LOG_WARN("policy enforcement postponed org=" << org_id << ": " << members.error().detail);
    return org;
  }
  for (const auto& m : *members) {
    if (m.method_types.empty()) enforce_after_change(m.user_id);
  }
  return org;
}

Result<TwofaReset> Orgs::reset_twofa(const Actor& actor, int64_t org_id, std::string_view username,
                                     bool recently_authenticated, bool revoke_app_passwords,
                                     const Client& client) {
  TS_ASSIGN_OR_RETURN(OrgRole mine, authorize(actor, org_id, OrgRole::kAdmin));
  TS_ASSIGN_OR_RETURN(store::OrgMember target, member_named(org_id, username));
  if (target.user_id == actor.user_id) {
    return tl::unexpected(
        forbidden("Change your own two-step verification on your security page."));
  }
  if (mine != OrgRole::kOwner && target.role == OrgRole::kOwner) {
    return tl::unexpected(forbidden("An admin cannot reset an owner's two-step verification."));
  }
  if (!actor.is_operator() && !recently_authenticated) {
    return fail(Code::kPermissionDenied, "reauth_required",
                "Confirm it is you: enter your password and a second factor again.");
  }
  TS_ASSIGN_OR_RETURN(store::User user, d_.store.user_by_id(target.user_id));
  TS_ASSIGN_OR_RETURN(bool on, twofa_.enabled(user.id));
  if (!on) {
    return fail(Code::kFailedPrecondition, "twofa_not_enabled",
                "This member has no two-step verification to reset.");
  }
  TS_ASSIGN_OR_RETURN(store::Org org, d_.store.org_by_id(org_id));
  TS_ASSIGN_OR_RETURN(TwofaReset done, wipe_twofa(user, revoke_app_passwords, "org_admin_reset", kOrgClient));
  const std::string ended = std::to_string(done.sessions_ended);
  const std::string revoked = std::to_string(done.app_passwords_revoked);
  record(org_id, actor, user.id, "member_twofa_reset", client,
         {{"sessions_ended", ended}, {"app_passwords_revoked", revoked}});
  audit_.record(user.id, "twofa_reset_by_admin", kOrgClient,
                {{"org", org.name},
                 {"by", actor.username},
                 {"sessions_ended", ended},
                 {"app_passwords_revoked", revoked}});
  return done;
}

Result<TwofaReset> Orgs::reset_twofa_by_operator(const store::User& user, bool revoke_app_passwords,
                                                 const Client& client) {
  TS_ASSIGN_OR_RETURN(bool on, twofa_.enabled(user.id));
  if (!on) {
    return fail(Code::kFailedPrecondition, "twofa_not_enabled",
                "This user has no two-step verification to reset.");
  }
  TS_ASSIGN_OR_RETURN(TwofaReset done, wipe_twofa(user, revoke_app_passwords, "operator_reset", client));
  audit_.record(user.id, "twofa_reset_by_operator", client,
                {{"sessions_ended", std::to_string(done.sessions_ended)},
                 {"app_passwords_revoked", std::to_string(done.app_passwords_revoked)}});
  return done;
}

Result<TwofaReset> Orgs::wipe_twofa(const store::User& user, bool revoke_app_passwords,
                                    const char* reason, const Client& as) {
  if (revoke_app_passwords && app_passwords_ == nullptr) {
    return core::internal("Orgs: reset before attach_app_passwords()");
  }
  TwofaReset done;
  TS_RETURN_IF_ERROR(twofa_.disable(user, as, reason));
  TS_ASSIGN_OR_RETURN(done.sessions_ended, sessions_.revoke_all(user.id, 0));
  // After the sessions: none of them can create a new one meanwhile (that needs a session).
  if (revoke_app_passwords) {
    TS_ASSIGN_OR_RETURN(done.app_passwords_revoked, app_passwords_->revoke_all(user, as));
  }
  return done;
}

Result<std::vector<store::OrgAuditEvent>> Orgs::audit_log(const Actor& actor, int64_t org_id,
                                                          int limit) {
  TS_RETURN_IF_ERROR(authorize(actor, org_id, OrgRole::kAdmin));
  return d_.store.org_audit(org_id, limit);
}

// --- enforcement -------------------------------------------------------------------------

Result<std::optional<EnrollmentRequirement>> Orgs::requirement(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(auto memberships, d_.store.orgs_of_user(user_id));
  std::optional<EnrollmentRequirement> strictest;
  for (const auto& m : memberships) {
    if (!m.org.require_2fa) continue;
    int64_t deadline = enrollment_deadline(m.org, m.added_at);
    if (!strictest || deadline < strictest->deadline) {
      strictest = EnrollmentRequirement{deadline, m.org.id, m.org.name};
    }
  }
  return strictest;
}

Status Orgs::recheck(SessionView& view) {
  if (view.session.state != SessionState::kEnrollmentRequired) return {};
  TS_ASSIGN_OR_RETURN(bool on, twofa_.enabled(view.user.id));
  if (on) {
    (void)sessions_.logout(view.session, kOrgClient);
    return fail(Code::kUnauthenticated, "not_authenticated",
                "Two-step verification is on for this account now. Sign in again.");
  }
  TS_ASSIGN_OR_RETURN(auto req, requirement(view.user.id));
  if (!req || req->deadline > d_.clock.unix_now()) {
    TS_RETURN_IF_ERROR(d_.store.lift_restricted_sessions(view.user.id));
    view.session.state = SessionState::kFull;
  }
  return {};
}

Result<IssuedSession> Orgs::complete_enrollment(const SessionView& view, const Client& client) {
  TS_ASSIGN_OR_RETURN(IssuedSession issued, sessions_.upgrade(view.session, SessionState::kFull));
  TS_RETURN_IF_ERROR(d_.store.clear_auth_times(view.user.id));
  issued.session.auth_at = 0;
  audit_.record(view.user.id, "enrollment_completed", client);
  return issued;
}

Status Orgs::enforce(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(auto req, requirement(user_id));
  if (req && req->deadline <= d_.clock.unix_now()) {
    TS_ASSIGN_OR_RETURN(int n, d_.store.restrict_sessions_without_2fa(user_id));
    if (n > 0) {
      sessions_.user_sessions_changed(user_id);  // /verify caches, on every instance
      audit_.record(user_id, "sessions_restricted", kOrgClient,
                    {{"org", req->org_name}, {"sessions", std::to_string(n)}});
    }
    return {};
  }
  TS_RETURN_IF_ERROR(d_.store.lift_restricted_sessions(user_id));
  return {};
}

void Orgs::enforce_after_change(int64_t user_id) {
  // The change itself is done; if this fails, the housekeeping sweep restricts later and
  // recheck() lifts a restricted session when it is next used.
  if (auto st = enforce(user_id); !st) {
    LOG_WARN("policy enforcement postponed user=" << user_id << ": " << st.error().detail);
  }
}

void Orgs::enforce_deadlines() {
  auto orgs = d_.store.list_orgs();
  if (!orgs) return;
  const int64_t now = d_.clock.unix_now();
  for (const auto& org : *orgs) {
    if (!org.require_2fa || org.policy_since + int64_t{org.grace_days} * kDay > now) continue;
    auto members = d_.store.org_members(org.id);
    if (!members) continue;
    for (const auto& m : *members) {
      if (m.method_types.empty() && enrollment_deadline(org, m.added_at) <= now) {
        (void)enforce(m.user_id);
      }
    }
  }
}

}  // namespace twostep::services
