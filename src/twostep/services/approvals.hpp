// Push approval: enrolment of the twostep-auth companion (its Ed25519 key and TOTP seed),
// verification of its signed requests (signature, clock skew, replay), and approval
// requests of pending sign-ins with number matching. An approval is answered by an enrolled
// authenticator or by another fully signed-in session of the same user; exactly one decision
// wins (one conditional write), a wrong number or a NO denies the sign-in. Every change is
// published on the event bus ("user:<id>") so that waiting streams wake up.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"
#include "twostep/services/events.hpp"
#include "twostep/services/login.hpp"
#include "twostep/services/sessions.hpp"
#include "twostep/services/throttle.hpp"
#include "twostep/services/twofa.hpp"

namespace twostep::services {

struct PushEnrollmentStart {
  int64_t method_id = 0;
  std::string enrollment_uri;
  std::string qr_svg;
  int64_t expires_at = 0;
};

// A request as the authenticator signed it: method, target (path + query as sent), body
// and the three signature headers (raw header text; checked here).
struct SignedRequest {
  std::string method;
  std::string target;
  std::string body;
  std::string device_id;
  std::string timestamp;
  std::string signature;
};

struct EnrolledDevice {
  int64_t method_id = 0;
  std::string device_id;
  std::string account;
  std::string issuer;
};

// An authenticated device request: the device, its method and its user.
struct DeviceView {
  store::PushDevice device;
  store::Method method;
  store::User user;
};

// Who can approve a pending sign-in: enrolled authenticators and other fully signed-in
// sessions. `preferred`: the sign-in page should start with an approval request (another
// session exists, or the default method is push).
struct ApprovalAvailability {
  int devices = 0;
  int sessions = 0;
  bool preferred = false;
  bool available() const { return devices > 0 || sessions > 0; }
};

// Who answers: "device:<id>" / "session:<id>" and a label for the security log.
struct Approver {
  std::string id;
  std::string label;
  int64_t method_id = 0;  // the push method, for a device
};

// The event payloads ({"type":...}); the store stays the truth.
std::string approval_created_event(int64_t id);
std::string approval_decided_event(int64_t id, store::ApprovalState state);
std::string session_revoked_event(int64_t session_id);

class Approvals {
 public:
  Approvals(Deps deps, Audit& audit, TwoFactor& twofa, Login& login, Throttles& throttles,
            EventBus& events);

  // --- the authenticator -------------------------------------------------------
  // A new (unconfirmed) push method and its single-use enrolment link
  // (push.enrollment_ttl_s). The method is confirmed like a TOTP method, with a first code
  // from the authenticator, which also proves the device was enrolled.
  Result<PushEnrollmentStart> begin_enrollment(const store::User& user, std::string_view label,
                                               const Client& client);
  // POST /devices/enroll: the request must be signed with the key in `public_key_b64url`
  // (proof of possession); spends the link; stores the device and the sealed seed.
  Result<EnrolledDevice> enroll(const SignedRequest& req, std::string_view token,
                                std::string_view public_key_b64url, std::string_view seed_base32,
                                std::string_view name, const Client& client);
  // Verifies a device request: known device, clock skew <= push.max_clock_skew_s, valid
  // signature, timestamp later than the last accepted one (stored by one conditional
  // write). kUnauthenticated with reason unknown_device / clock_skew / invalid_signature /
  // replayed_request.
  Result<DeviceView> authenticate_device(const SignedRequest& req, const Client& client);
  // Whether a device may still receive and answer requests (exists, method confirmed).
  Result<bool> device_active(const std::string& device_id);
  // Whether a session may still see requests (exists, fully signed in, not expired).
  Result<bool> session_active(int64_t session_id);

  // --- the pending sign-in -------------------------------------------------------
  Result<ApprovalAvailability> availability(int64_t user_id, int64_t pending_session_id);
  // A new approval request (push.approval_ttl_s); at most push.max_requests per user per
  // push.request_window_s (429 rate_limited). method_id: a confirmed push method of the
  // user (404 otherwise); every authenticator and signed-in session sees the request.
  Result<store::Approval> request(const SessionView& pending, std::optional<int64_t> method_id,
                                  const Client& client);
  // The pending sign-in's own request (404 for any other).
  Result<store::Approval> status(const SessionView& pending, int64_t id);
  // Completes the sign-in with an approved request (use once).
  Result<SecondStepOutcome> complete(const SessionView& pending, const store::Approval& approved,
                                     const Client& client);

  // --- approvers -----------------------------------------------------------------
  // Pending requests of the user, oldest first.
  Result<std::vector<store::Approval>> pending(int64_t user_id);
  // What an event stream may show, in one store round trip: the user's pending requests,
  // or nullopt when the viewer (a session, or a device when device_id is set) may no
  // longer see them.
  Result<std::optional<std::vector<store::Approval>>> pending_for_viewer(
      int64_t user_id, int64_t session_id, const std::string& device_id);
  // Answers a request: approve with the number shown on the sign-in page, or deny. A wrong
  // number denies. Returns the state this call wrote; 409 conflict (with the state in the
  // message) when the request was already answered or expired; 404 when not the user's.
  Result<store::ApprovalState> decide(int64_t user_id, int64_t id, bool approve,
                                      std::optional<int> number, const Approver& who,
                                      const Client& client);

  void purge();
  int64_t now() const { return d_.clock.unix_now(); }

 private:
  Result<int64_t> check_signature(const SignedRequest& req, std::string_view device_id,
                                  std::string_view public_key);
  Status check_request_rate(int64_t user_id, const Client& client);

  Deps d_;
  Audit& audit_;
  TwoFactor& twofa_;
  Login& login_;
  Throttles& throttles_;
  EventBus& events_;
};

}  // namespace twostep::services
