// Records of push approval (the twostep-auth companion and approvals from signed-in
// devices), used by the push section of store.hpp.
#pragma once

#include <cstdint>
#include <string>

namespace twostep::store {

// A single-use enrolment link for a push method; only the token's SHA-256 is stored.
struct PushEnrollment {
  std::string token_hash;
  int64_t user_id = 0;
  int64_t method_id = 0;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t used_at = 0;  // 0 = not used yet
};

// An enrolled authenticator (one per push method).
struct PushDevice {
  int64_t id = 0;
  int64_t method_id = 0;
  int64_t user_id = 0;
  std::string device_id;   // public random id the device names itself with
  std::string public_key;  // Ed25519, 32 raw bytes
  std::string name;
  int64_t created_at = 0;
  int64_t last_request_ms = 0;  // replay guard: last accepted signed request
  int64_t last_seen_at = 0;
};

// 'expired' is never stored: a pending approval past expires_at reads as expired.
enum class ApprovalState : int { kPending = 0, kApproved = 1, kDenied = 2, kExpired = 3 };

// "pending", "approved", "denied", "expired": in the database and in the API.
inline const char* approval_state_name(ApprovalState s) {
  switch (s) {
    case ApprovalState::kApproved:
      return "approved";
    case ApprovalState::kDenied:
      return "denied";
    case ApprovalState::kExpired:
      return "expired";
    case ApprovalState::kPending:
      break;
  }
  return "pending";
}

struct Approval {
  int64_t id = 0;
  int64_t user_id = 0;
  int64_t session_id = 0;  // the pending sign-in that asked
  int64_t method_id = 0;   // the push method asked for; 0 = any signed-in device
  int number = 0;          // shown on the sign-in page
  std::string choices;     // "12,47,83": offered to approvers
  ApprovalState state = ApprovalState::kPending;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t decided_at = 0;
  std::string decided_by;  // "device:<id>" or "session:<id>"
  int64_t consumed_at = 0;
  std::string ip;  // of the browser that asked
  std::string user_agent;
};

}  // namespace twostep::store
