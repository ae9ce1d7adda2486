// Organisations: members with roles (owner, admin, member), the policy that requires two-step
// verification of every member after an optional grace period, its enforcement (at sign-in
// and on sessions that already exist), the admin reset of a member's 2FA (and the operator's
// reset of anyone's, from the CLI), and the organisation's own audit log.
//
// Authorisation, for every verb that names an organisation: someone who is not a member gets
// the same 404 as for an organisation that does not exist; a member below the needed role
// gets 403. Admins manage members and admins; only owners grant, change or remove an owner,
// and an organisation always keeps one owner. The operator (CLI) may do anything.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"
#include "twostep/services/sessions.hpp"
#include "twostep/services/throttle.hpp"
#include "twostep/services/twofa.hpp"

namespace twostep::services {

// Who acts on an organisation: a signed-in user, authorised by their role in it, or the
// server operator through the CLI (user_id 0).
struct Actor {
  int64_t user_id = 0;
  std::string username;
  bool is_operator() const { return user_id == 0; }
  static Actor of(const store::User& u) { return Actor{u.id, u.username}; }
  static Actor cli() { return Actor{0, "operator"}; }
};

// What the user's organisations require of them while they have no second factor: the
// earliest deadline over every organisation that requires it (the strictest policy wins).
struct EnrollmentRequirement {
  int64_t deadline = 0;
  int64_t org_id = 0;
  std::string org_name;
};

// A member's deadline in one organisation: grace_days after the later of "the policy was
// turned on" and "the member joined", so that a newcomer gets the whole grace period too.
int64_t enrollment_deadline(const store::Org& org, int64_t joined_at);

struct MemberStatus {
  store::OrgMember member;
  int64_t enrollment_deadline = 0;  // this organisation's; 0 when the policy is off or 2FA on
};

struct OrgMembers {
  store::Org org;
  store::OrgRole viewer_role = store::OrgRole::kMember;
  std::vector<MemberStatus> members;
};

inline constexpr int kMaxGraceDays = 365;

// What a reset of someone's two-step verification ended.
struct TwofaReset {
  int sessions_ended = 0;
  int app_passwords_revoked = 0;
};

class AppPasswords;

class Orgs {
 public:
  Orgs(Deps deps, Audit& audit, Sessions& sessions, TwoFactor& twofa, Throttles& throttles);
  // The resets revoke application passwords through it. AppPasswords is built after Orgs (it
  // asks the policy), so it comes here; until it does, a reset that should revoke them fails
  // before changing anything.
  void attach_app_passwords(AppPasswords& app_passwords) { app_passwords_ = &app_passwords; }

  // 2..64 bytes once trimmed, no control characters, not only digits (the CLI takes an id or
  // a name). kInvalidArgument naming the field otherwise.
  static Result<std::string> clean_name(std::string_view name);

  // Creates an organisation owned by `owner_username`. A user may create one (as its owner)
  // only when orgs.user_create is on.
  Result<store::Org> create(const Actor& actor, std::string_view name,
                            std::string_view owner_username, const Client& client);
  Result<std::vector<store::OrgMembership>> of_user(int64_t user_id);
  // For the CLI: by id ("12") or by name; and every organisation.
  Result<store::Org> find(std::string_view id_or_name);
  Result<std::vector<store::Org>> list();

  // Admins and owners.
  Result<OrgMembers> members(const Actor& actor, int64_t org_id);
  Status add_member(const Actor& actor, int64_t org_id, std::string_view username,
                    store::OrgRole role, const Client& client);
  Status set_role(const Actor& actor, int64_t org_id, std::string_view username,
                  store::OrgRole role, const Client& client);
  Status remove_member(const Actor& actor, int64_t org_id, std::string_view username,
                       const Client& client);
  Result<store::Org> set_policy(const Actor& actor, int64_t org_id, bool require_2fa,
                                int grace_days, const Client& client);
  // Lost phone: removes the member's methods and recovery codes, ends their sessions and, when
  // `revoke_app_passwords`, revokes their application passwords (the lost phone's mail app
  // holds one). The acting admin must have re-authenticated recently (the caller knows the
  // session).
  Result<TwofaReset> reset_twofa(const Actor& actor, int64_t org_id, std::string_view username,
                                 bool recently_authenticated, bool revoke_app_passwords,
                                 const Client& client);
  // The operator's reset (`twostep user reset-2fa`) for a user who lost every factor and their
  // recovery codes, in an organisation or not: the same as the admin reset, audited on the
  // user as twofa_reset_by_operator. kFailedPrecondition "twofa_not_enabled" when the user has
  // no two-step verification (nothing changes).
  Result<TwofaReset> reset_twofa_by_operator(const store::User& user, bool revoke_app_passwords,
                                             const Client& client);
  Result<std::vector<store::OrgAuditEvent>> audit_log(const Actor& actor, int64_t org_id,
                                                      int limit);

  // --- enforcement ---------------------------------------------------------------------
  // Ignores whether the user has 2FA (callers know that); nullopt when nothing requires it.
  Result<std::optional<EnrollmentRequirement>> requirement(int64_t user_id);
  // For a session in state kEnrollmentRequired, before it is used: lifts it (state kFull) when
  // no policy requires enrolment by now any more; refuses it (and ends it) when the user has
  // a method by now, since a password-only session must not add a method to an account that
  // has two-step verification. Other states pass unchanged.
  Status recheck(SessionView& view);
  // The first method was confirmed in a restricted session: a full session with a new token
  // (auth time cleared: a method just added proves only the password).
  Result<IssuedSession> complete_enrollment(const SessionView& view, const Client& client);
  // Brings the user's existing sessions in line with the policy: fully signed-in sessions
  // become restricted once the deadline has passed (while the user has no method), and
  // restricted ones are lifted when nothing requires enrolment any more.
  Status enforce(int64_t user_id);
  // For the housekeeping timer: restricts the sessions of members whose deadline has passed.
  void enforce_deadlines();

 private:
  // The actor's role in the organisation (the operator counts as owner), at least `min`.
  Result<store::OrgRole> authorize(const Actor& actor, int64_t org_id, store::OrgRole min);
  Result<store::OrgMember> member_named(int64_t org_id, std::string_view username);
  // Both resets, once authorised: 2FA off (`reason` in the user's twofa_disabled entry), every
  // session ended, then the application passwords revoked unless told to keep them; `as` is the
  // client the user's own entries name (the organisation, or the operator's command line).
  Result<TwofaReset> wipe_twofa(const store::User& user, bool revoke_app_passwords,
                                const char* reason, const Client& as);
  // enforce() after a membership or policy change that has already been written.
  void enforce_after_change(int64_t user_id);
  void record(int64_t org_id, const Actor& actor, int64_t subject_id, const std::string& event,
              const Client& client, const std::vector<std::pair<std::string, std::string>>& detail);

  Deps d_;
  Audit& audit_;
  Sessions& sessions_;
  TwoFactor& twofa_;
  Throttles& throttles_;
  AppPasswords* app_passwords_ = nullptr;
};

}  // namespace twostep::services
