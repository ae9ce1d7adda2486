#include "twostep/services/approvals.hpp"

#include <chrono>
#include <cstdlib>

#include "twostep/core/log.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/factors/push.hpp"
#include "twostep/factors/qr.hpp"

namespace twostep::services {
using core::Code;
using core::fail;
using store::approval_state_name;
using store::ApprovalState;

namespace {

constexpr size_t kMaxDeviceId = 64;
constexpr size_t kMinSeed = 16;  // 128 bits, RFC 4226's minimum
constexpr size_t kMaxSeed = 64;

core::Error unauthenticated(const char* reason, std::string message) {
  return core::Error{Code::kUnauthenticated, reason, std::move(message), {}, 0};
}

int64_t unix_ms(const core::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch())
      .count();
}

std::string push_approver_id(int64_t method_id) { return "push:" + std::to_string(method_id); }

// The push method that decided, from decided_by ("push:<method id>"); 0 for a session.
int64_t decided_by_method(const std::string& decided_by) {
  if (decided_by.rfind("push:", 0) != 0) return 0;
  return std::strtoll(decided_by.c_str() + 5, nullptr, 10);
}

}  // namespace

std::string approval_created_event(int64_t id) {
  return "{\"type\":\"approval\",\"id\":" + std::to_string(id) + "}";
}

std::string approval_decided_event(int64_t id, ApprovalState state) {
  return "{\"type\":\"decided\",\"id\":" + std::to_string(id) + ",\"state\":\"" +
         approval_state_name(state) + "\"}";
}

std::string session_revoked_event(int64_t session_id) {
  return "{\"type\":\"session_revoked\",\"session_id\":" + std::to_string(session_id) + "}";
}

Approvals::Approvals(Deps deps, Audit& audit, TwoFactor& twofa, Login& login, Throttles& throttles,
                     EventBus& events)
    : d_(deps),
      audit_(audit),
      twofa_(twofa),
      login_(login),
      throttles_(throttles),
      events_(events) {}

// --- the authenticator ---------------------------------------------------------

Result<PushEnrollmentStart> Approvals::begin_enrollment(const store::User& user,
                                                        std::string_view label,
                                                        const Client& client) {
  TS_ASSIGN_OR_RETURN(std::string clean, clean_label(label, "twostep Authenticator"));
  const int64_t now = d_.clock.unix_now();
  store::Method m;
  m.user_id = user.id;
  m.type = "push";
  m.label = clean;
  // The seed arrives with the device (POST /devices/enroll); these are its TOTP parameters.
  m.params = format_params({{"alg", "SHA1"},
                            {"digits", "6"},
                            {"period", "30"},
                            {"ref", crypto::hex_encode(crypto::random_bytes(8))}});
  m.created_at = now;
  TS_ASSIGN_OR_RETURN(store::Method stored, d_.store.create_method(m));

  const std::string token = crypto::random_token(32);
  store::PushEnrollment e;
  e.token_hash = crypto::sha256_hex(token);
  e.user_id = user.id;
  e.method_id = stored.id;
  e.created_at = now;
  e.expires_at = now + d_.config.push.enrollment_ttl_s;
  TS_RETURN_IF_ERROR(d_.store.create_push_enrollment(e));

  std::string server = d_.config.server.public_url;
  while (!server.empty() && server.back() == '/') server.pop_back();
  PushEnrollmentStart out;
  out.method_id = stored.id;
  out.expires_at = e.expires_at;
  out.enrollment_uri =
      factors::push::enrollment_uri({server, token, user.username, d_.config.totp.issuer});
  TS_ASSIGN_OR_RETURN(out.qr_svg, factors::qr_svg(out.enrollment_uri));
  audit_.record(user.id, "push_enrollment_started", client,
                {{"method_id", std::to_string(stored.id)}, {"label", clean}});
  return out;
}

Result<int64_t> Approvals::check_signature(const SignedRequest& req, std::string_view device_id,
                                           std::string_view public_key) {
  auto ts = factors::push::parse_timestamp(req.timestamp);
  if (!ts) {
    return tl::unexpected(unauthenticated(
        "invalid_signature", "X-Twostep-Timestamp: expected the time in Unix milliseconds."));
  }
  const int64_t skew_ms = unix_ms(d_.clock) - *ts;
  if (std::llabs(skew_ms) > int64_t{d_.config.push.max_clock_skew_s} * 1000) {
    return tl::unexpected(
        unauthenticated("clock_skew", "The authenticator's clock is off by " +
                                          std::to_string(std::llabs(skew_ms) / 1000) +
                                          " seconds. Set the device's time and try again."));
  }
  auto sig = crypto::base64url_decode(req.signature);
  const std::string message =
      factors::push::signing_string(req.method, req.target, device_id, *ts, req.body);
  if (!sig || !factors::push::verify(public_key, message, *sig)) {
    return tl::unexpected(
        unauthenticated("invalid_signature", "The request signature is not valid."));
  }
  return *ts;
}

Result<EnrolledDevice> Approvals::enroll(const SignedRequest& req, std::string_view token,
                                         std::string_view public_key_b64url,
                                         std::string_view seed_base32, std::string_view name,
                                         const Client& client) {
  auto pk = crypto::base64url_decode(public_key_b64url);
  if (!pk || pk->size() != factors::push::kPublicKeySize) {
    return fail(Code::kInvalidArgument, "invalid_request",
                "public_key: expected a 32-byte Ed25519 key in base64url.");
  }
  auto seed = crypto::base32_decode(seed_base32);
  if (!seed || seed->size() < kMinSeed || seed->size() > kMaxSeed) {
    return fail(Code::kInvalidArgument, "invalid_request",
                "totp_seed: expected 16 to 64 bytes in base32.");
  }
  core::Secret seed_secret(std::move(*seed));
  TS_ASSIGN_OR_RETURN(std::string device_name, clean_label(name, "twostep-auth"));
  // Proof of possession before the link is spent: the body is signed with the new key.
  TS_ASSIGN_OR_RETURN(int64_t ts, check_signature(req, "", *pk));

  const int64_t now = d_.clock.unix_now();
  auto link = d_.store.use_push_enrollment(crypto::sha256_hex(token), now);
  if (!link) {
    if (link.error().code != Code::kNotFound) return tl::unexpected(link.error());
    d_.metrics.inc("twostep_push_enrollments_total", "outcome=\"invalid_link\"");
    return tl::unexpected(unauthenticated(
        "invalid_enrollment",
        "This enrolment link is not valid: it was used already or has expired. Start again on "
        "the Security page."));
  }
  auto method = d_.store.method_of_user(link->user_id, link->method_id);
  if (!method) return fail(Code::kNotFound, "not_found", "This setup was cancelled. Start again.");
  TS_ASSIGN_OR_RETURN(store::User user, d_.store.user_by_id(link->user_id));

  store::PushDevice dev;
  dev.method_id = method->id;
  dev.user_id = user.id;
  dev.device_id = crypto::random_token(16);
  dev.public_key = *pk;
  dev.name = device_name;
  dev.created_at = now;
  dev.last_request_ms = ts;  // the enrolment request itself cannot be replayed afterwards
  dev.last_seen_at = now;
  const std::string ref = parse_params(method->params)["ref"];
  auto attached =
      d_.store.attach_push_device(dev, twofa_.seal_seed(user.id, "push", ref, seed_secret.view()));
  if (!attached) {
    if (attached.error().code == Code::kNotFound) {
      return fail(Code::kNotFound, "not_found", "This setup was cancelled. Start again.");
    }
    return tl::unexpected(attached.error());
  }
  d_.metrics.inc("twostep_push_enrollments_total", "outcome=\"enrolled\"");
  audit_.record(user.id, "push_device_enrolled", client,
                {{"method_id", std::to_string(method->id)}, {"device", device_name}});
  return EnrolledDevice{method->id, attached->device_id, user.username, d_.config.totp.issuer};
}

Result<DeviceView> Approvals::authenticate_device(const SignedRequest& req, const Client& client) {
  const std::string ip_key = "push:ip:" + client.ip;
  TS_RETURN_IF_ERROR(throttles_.check(ip_key));
  const auto& rl = d_.config.rate_limit;
  const ThrottleRule ip_rule{rl.login_ip_max, rl.login_ip_window_s, rl.login_ip_lock_s};
  auto refuse = [&](int64_t user_id, core::Error e) -> tl::unexpected<core::Error> {
    d_.metrics.inc("twostep_push_requests_rejected_total",
                   "reason=\"" + core::metric_label(e.reason) + "\"");
    if (user_id != 0)
      audit_.record(user_id, "push_request_rejected", client, {{"reason", e.reason}});
    (void)throttles_.hit(ip_key, ip_rule);
    return tl::unexpected(std::move(e));
  };

  if (req.device_id.empty() || req.device_id.size() > kMaxDeviceId) {
    return refuse(0, unauthenticated("unknown_device", "X-Twostep-Device: missing or too long."));
  }
  auto dev = d_.store.push_device_by_device_id(req.device_id);
  if (!dev) {
    if (dev.error().code != Code::kNotFound) return tl::unexpected(dev.error());
    return refuse(0, unauthenticated("unknown_device",
                                     "This authenticator is not enrolled (it may have been "
                                     "removed on the Security page)."));
  }
  auto ts = check_signature(req, dev->device_id, dev->public_key);
  if (!ts) return refuse(dev->user_id, std::move(ts.error()));
  // Use once: each signed request carries a later timestamp than the last accepted one.
  TS_ASSIGN_OR_RETURN(bool fresh,
                      d_.store.advance_push_device_clock(dev->id, *ts, d_.clock.unix_now()));
  if (!fresh) {
    return refuse(dev->user_id,
                  unauthenticated("replayed_request", "This signed request was already used."));
  }
  DeviceView v;
  TS_ASSIGN_OR_RETURN(v.method, d_.store.method_of_user(dev->user_id, dev->method_id));
  TS_ASSIGN_OR_RETURN(v.user, d_.store.user_by_id(dev->user_id));
  if (v.user.disabled) {
    return fail(Code::kPermissionDenied, "account_disabled", "This account is disabled.");
  }
  v.device = std::move(*dev);
  return v;
}

Result<bool> Approvals::device_active(const std::string& device_id) {
  auto dev = d_.store.push_device_by_device_id(device_id);
  if (!dev) {
    if (dev.error().code == Code::kNotFound) return false;
    return tl::unexpected(dev.error());
  }
  auto m = d_.store.method_of_user(dev->user_id, dev->method_id);
  if (!m) {
    if (m.error().code == Code::kNotFound) return false;
    return tl::unexpected(m.error());
  }
  return m->confirmed;
}

Result<bool> Approvals::session_active(int64_t session_id) {
  auto s = d_.store.session_by_id(session_id);
  if (!s) {
    if (s.error().code == Code::kNotFound) return false;
    return tl::unexpected(s.error());
  }
  const int64_t now = d_.clock.unix_now();
  return s->state == store::SessionState::kFull && s->expires_at > now &&
         s->absolute_expires_at > now;
}

// --- the pending sign-in -------------------------------------------------------

Result<ApprovalAvailability> Approvals::availability(int64_t user_id, int64_t pending_session_id) {
  const int64_t now = d_.clock.unix_now();
  ApprovalAvailability a;
  TS_ASSIGN_OR_RETURN(auto methods, twofa_.active_methods(user_id));
  TS_ASSIGN_OR_RETURN(auto devices, d_.store.push_devices_of_user(user_id));
  bool default_is_push = false;
  for (const auto& m : methods) {
    if (m.type != "push") continue;
    for (const auto& dev : devices) {
      if (dev.method_id != m.id) continue;
      ++a.devices;
      default_is_push = default_is_push || m.is_default;
    }
  }
  TS_ASSIGN_OR_RETURN(auto sessions, d_.store.sessions_of_user(user_id));
  for (const auto& s : sessions) {
    if (s.id != pending_session_id && s.state == store::SessionState::kFull && s.expires_at > now &&
        s.absolute_expires_at > now) {
      ++a.sessions;
    }
  }
  a.preferred = a.sessions > 0 || default_is_push;
  return a;
}

Status Approvals::check_request_rate(int64_t user_id, const Client& client) {
  // At most max_requests per window; the request that reaches the limit starts a lock of one
  // window, and every later request until it ends is refused (push-bombing protection).
  const auto& p = d_.config.push;
  const int64_t now = d_.clock.unix_now();
  TS_ASSIGN_OR_RETURN(
      store::Throttle t,
      d_.store.throttle_hit("approval:user:" + std::to_string(user_id), now, p.request_window_s,
                            p.max_requests, p.request_window_s));
  const bool started_now = t.count == p.max_requests && t.locked_until == now + p.request_window_s;
  if (t.locked_until <= now || started_now) return {};
  d_.metrics.inc("twostep_approvals_total", "outcome=\"rate_limited\"");
  audit_.record(user_id, "approval_rate_limited", client);
  const int64_t wait = t.locked_until - now;
  std::string when = wait < 120 ? std::to_string(wait) + " seconds"
                                : std::to_string((wait + 59) / 60) + " minutes";
  return core::fail_retry(Code::kResourceExhausted, "rate_limited",
                          "Too many sign-in requests were sent to your devices. Use another "
                          "method, or ask again in " +
                              when + ".",
                          static_cast<int>(wait));
}

Result<store::Approval> Approvals::request(const SessionView& pending,
                                           std::optional<int64_t> method_id, const Client& client) {
  if (pending.session.state != store::SessionState::kPendingSecondFactor) {
    return fail(Code::kFailedPrecondition, "conflict", "This sign-in is already complete.");
  }
  const int64_t uid = pending.user.id;
  TS_RETURN_IF_ERROR(login_.check_second_factor_lock(uid));
  if (method_id) {
    auto m = d_.store.method_of_user(uid, *method_id);
    if (!m || !m->confirmed || m->type != "push") {
      return fail(Code::kNotFound, "not_found", "No such authenticator.");
    }
  }
  TS_ASSIGN_OR_RETURN(ApprovalAvailability avail, availability(uid, pending.session.id));
  if (!avail.available()) {
    return fail(Code::kFailedPrecondition, "no_approver",
                "None of your devices can approve this sign-in: you have no authenticator and "
                "are not signed in anywhere else. Use another method.");
  }
  TS_RETURN_IF_ERROR(check_request_rate(uid, client));

  const int64_t now = d_.clock.unix_now();
  const auto challenge = factors::push::new_number_challenge();
  store::Approval a;
  a.user_id = uid;
  a.session_id = pending.session.id;
  a.method_id = method_id.value_or(0);
  a.number = challenge.number;
  a.choices = factors::push::format_choices(challenge.choices);
  a.created_at = now;
  a.expires_at = now + d_.config.push.approval_ttl_s;
  a.ip = client.ip;
  a.user_agent = client.user_agent.substr(0, 512);
  TS_ASSIGN_OR_RETURN(store::Approval created, d_.store.create_approval(a));
  d_.metrics.inc("twostep_approvals_total", "outcome=\"requested\"");
  audit_.record(uid, "approval_requested", client, {{"approval_id", std::to_string(created.id)}});
  events_.publish(user_channel(uid), approval_created_event(created.id));
  return created;
}

Result<store::Approval> Approvals::status(const SessionView& pending, int64_t id) {
  auto a = d_.store.approval_of_user(pending.user.id, id, d_.clock.unix_now());
  if (!a || a->session_id != pending.session.id) {
    if (!a && a.error().code != Code::kNotFound) return tl::unexpected(a.error());
    return fail(Code::kNotFound, "not_found", "No such sign-in request.");
  }
  return a;
}

Result<SecondStepOutcome> Approvals::complete(const SessionView& pending,
                                              const store::Approval& approved,
                                              const Client& client) {
  const int64_t now = d_.clock.unix_now();
  TS_ASSIGN_OR_RETURN(bool won, d_.store.consume_approval(pending.session.id, approved.id, now));
  if (!won) return fail(Code::kFailedPrecondition, "conflict", "This approval was already used.");
  CodeCheck check;
  check.method_id = decided_by_method(approved.decided_by);
  check.method_type = check.method_id != 0 ? "push" : "apps";
  if (check.method_id != 0) (void)d_.store.touch_method(check.method_id, now);
  return login_.complete(pending, check, client);
}

// --- approvers -----------------------------------------------------------------

Result<std::vector<store::Approval>> Approvals::pending(int64_t user_id) {
  return d_.store.pending_approvals_of_user(user_id, d_.clock.unix_now());
}

Result<std::optional<std::vector<store::Approval>>> Approvals::pending_for_viewer(
    int64_t user_id, int64_t session_id, const std::string& device_id) {
  TS_ASSIGN_OR_RETURN(bool active,
                      device_id.empty() ? session_active(session_id) : device_active(device_id));
  if (!active) return std::optional<std::vector<store::Approval>>();
  TS_ASSIGN_OR_RETURN(auto list, pending(user_id));
  return std::optional<std::vector<store::Approval>>(std::move(list));
}

Result<ApprovalState> Approvals::decide(int64_t user_id, int64_t id, bool approve,
                                        std::optional<int> number, const Approver& who,
                                        const Client& client) {
  const int64_t now = d_.clock.unix_now();
  auto answered = [](ApprovalState s) {
    return fail(Code::kFailedPrecondition, "conflict",
                s == ApprovalState::kExpired ? std::string("This sign-in request has expired.")
                                             : std::string("This sign-in request was already ") +
                                                   approval_state_name(s) + ".");
  };
  auto a = d_.store.approval_of_user(user_id, id, now);
  if (!a) {
    if (a.error().code == Code::kNotFound) {
      return fail(Code::kNotFound, "not_found",
                  "This sign-in request does not exist or has ended.");
    }
    return tl::unexpected(a.error());
  }
  if (a->state != ApprovalState::kPending) return answered(a->state);

  const bool right_number = number && *number == a->number;
  const ApprovalState state =
      approve && right_number ? ApprovalState::kApproved : ApprovalState::kDenied;
  const std::string decided_by = who.method_id != 0 ? push_approver_id(who.method_id) : who.id;
  TS_ASSIGN_OR_RETURN(bool won, d_.store.decide_approval(user_id, id, state, decided_by, now));
  if (!won) {
    // Someone else answered first (or it just expired): report what happened.
    TS_ASSIGN_OR_RETURN(store::Approval now_state, d_.store.approval_of_user(user_id, id, now));
    return answered(now_state.state);
  }
  const std::string approval_id = std::to_string(id);
  if (state == ApprovalState::kApproved) {
    d_.metrics.inc("twostep_approvals_total", "outcome=\"approved\"");
    audit_.record(user_id, "approval_granted", client,
                  {{"approval_id", approval_id}, {"by", who.label}, {"requested_from", a->ip}});
  } else {
    const char* reason = approve ? "wrong_number" : "denied";
    d_.metrics.inc("twostep_approvals_total", std::string("outcome=\"") + reason + "\"");
    // The entry describes the rejected sign-in: its address and browser, and who said no.
    audit_.record(user_id, "sign_in_rejected", Client{a->ip, a->user_agent},
                  {{"approval_id", approval_id},
                   {"reason", reason},
                   {"by", who.label},
                   {"answered_from", client.ip}});
    LOG_INFO("sign-in rejected user=" << user_id << " approval=" << id << " reason=" << reason);
  }
  events_.publish(user_channel(user_id), approval_decided_event(id, state));
  return state;
}

void Approvals::purge() {
  // An hour of grace keeps a just-approved request usable by its slow sign-in page.
  (void)d_.store.delete_stale_push_rows(d_.clock.unix_now() - 3600);
}

}  // namespace twostep::services
