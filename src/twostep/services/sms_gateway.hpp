// SMS gateways: one interface, one driver per kind of provider, chosen by `sms.gateway`.
//   off    — codes by SMS are turned off: nothing is ever sent (the Sms service refuses first)
//   log    — writes the message to the server log and sends nothing (development only)
//   http   — a generic JSON POST (URL, headers, body template with {to} and {message})
//   twilio — the Twilio Messages API (form-encoded, HTTP Basic with account SID + token)
// The HTTP drivers use libcurl with a connect timeout, a total time budget per message and a
// bounded number of retries. send() blocks: call it on the sms worker pool, never on an I/O
// thread, and never inside a store transaction.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twostep/core/config.hpp"
#include "twostep/core/error.hpp"

namespace twostep::services {

// When a delivery must be over at the latest (steady clock); a default value means "now +
// sms.timeout_ms". The API sets it when the request arrives, so that time spent waiting in the
// sms pool's queue comes out of the same budget.
using SmsDeadline = std::chrono::steady_clock::time_point;

struct SmsMessage {
  std::string to;    // E.164, "+41791234567"
  std::string text;  // holds the code: never logged by the HTTP drivers
  SmsDeadline deadline{};
};

class SmsGateway {
 public:
  virtual ~SmsGateway() = default;
  virtual std::string_view name() const = 0;
  // Delivers one message. Code::kBadGateway "sms_delivery_failed" when the provider could not
  // be reached in time or refused it; `detail` (logs only) says why, without the text.
  virtual core::Status send(const SmsMessage& message) = 0;
};

// Code::kBadGateway "sms_delivery_failed" with the message for people; `detail` for logs.
core::Error sms_delivery_failed(std::string detail);

// sms.gateway = "off": the operator turned codes by SMS off.
bool sms_off(const core::SmsConfig& sms);
// Code::kFailedPrecondition "sms_disabled" (409): what every SMS route answers when off.
core::Error sms_disabled();

// Checks the gateway keys of `sms` (driver name, URL, headers, body template, Twilio
// credentials, timeouts). The error is one line naming the key.
core::Status check_gateway_config(const core::SmsConfig& sms);

// The driver named by sms.gateway (after check_gateway_config). Initialises libcurl once.
core::Result<std::unique_ptr<SmsGateway>> make_sms_gateway(const core::SmsConfig& sms);

// Building blocks of the HTTP drivers, public for tests.
namespace sms_detail {
// The http driver's body: {to} and {message} replaced by the JSON-escaped values (the
// template puts them inside quotes).
std::string render_body(std::string_view body_template, std::string_view to,
                        std::string_view message);
// application/x-www-form-urlencoded (RFC 3986 unreserved characters kept, the rest %XX).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);
// "https://api.twilio.com" + SID → ".../2010-04-01/Accounts/<SID>/Messages.json".
std::string twilio_messages_url(std::string_view base_url, std::string_view account_sid);
}  // namespace sms_detail

}  // namespace twostep::services
