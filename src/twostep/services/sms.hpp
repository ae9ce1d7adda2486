// Codes by SMS: enrolment of a mobile number, sending sign-in and re-authentication codes,
// and checking them (TwoFactor dispatches "sms" codes here).
//
// Numbers follow factors/sms rules (allowed regions, mobile only), are sealed at rest with
// the keyring (associated data binds them to the user and the method) and shown masked.
// Codes are 6 digits, stored as keyed hashes, live sms.code_ttl_s, allow sms.max_attempts
// tries (each try is spent before the comparison, so parallel guesses cannot get more) and
// are used once. Every send is reserved first — resend cool-down per user, number and purpose,
// daily caps per account, number and client address, daily budget per region — and the reservation
// is taken back when the gateway fails, so a failed delivery counts nothing.
//
// The sending calls block on the gateway: run them on the sms worker pool, with the deadline
// taken when the request arrived (a job that waited in the queue past it fails at once,
// before anything is counted). No store transaction is held across the gateway call.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/crypto/pepper.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/context.hpp"
#include "twostep/services/sms_gateway.hpp"
#include "twostep/services/twofa.hpp"

namespace twostep::services {

struct SmsSent {
  int64_t method_id = 0;
  std::string masked;      // "+41 •• ••• •• 67"
  int expires_in_s = 0;    // the code's lifetime
  int resend_after_s = 0;  // the cool-down before another code to this number
};

struct SmsRegion {
  std::string code;  // "CH"
  std::string name;  // "Switzerland"
  int calling_code = 0;
};

// Checks every [sms] key (regions, budgets, limits and the gateway's). One line naming the key.
Status check_sms_config(const core::Config& config);

// What checking a sent code found.
enum class SmsVerdict {
  kAccepted,    // right, and now consumed
  kWrong,       // wrong code (an attempt was spent)
  kNoLiveCode,  // nothing to compare with: none sent, expired, used, or out of attempts
};

class Sms {
 public:
  // Registers "sms" with `twofa` (sign-in and re-authentication codes through check_code, the
  // first code through confirm), switched off when sms.gateway = "off". `gateway` must outlive
  // the service.
  Sms(Deps deps, Audit& audit, TwoFactor& twofa, SmsGateway& gateway);

  // False when sms.gateway = "off": enrol and send_code (and TwoFactor's checks of sms codes)
  // then answer 409 "sms_disabled" and write nothing.
  bool enabled() const;

  // Adds an unconfirmed SMS method for `phone` (E.164, or national with `region`) and sends
  // the code that confirms it (TwoFactor::confirm). Asking again for the same number resends
  // (after the cool-down) and replaces the earlier unconfirmed setup.
  Result<SmsSent> enrol(const store::User& user, std::string_view phone, std::string_view region,
                        std::string_view label, const Client& client, SmsDeadline deadline = {});
  // Sends a sign-in or re-authentication code to a confirmed SMS method (`method_id`, or the
  // user's first SMS method).
  Result<SmsSent> send_code(const store::User& user, std::optional<int64_t> method_id,
                            const Client& client, SmsDeadline deadline = {});

  // A sign-in or re-authentication code, for TwoFactor::check_code(type "sms"): the newest
  // code of `method_id` (or of any of the user's SMS methods).
  Result<CodeCheck> check_code(const store::User& user, std::string_view code,
                               std::optional<int64_t> method_id);
  // The code that confirms a new SMS method, for TwoFactor::confirm.
  Status confirm_code(const store::Method& m, std::string_view code);
  // Checks and consumes `code` against the newest code of method `m`: the attempt is spent
  // before the comparison, so parallel guesses get sms.max_attempts comparisons in total.
  Result<SmsVerdict> verify(const store::Method& m, std::string_view code, bool enrolment);

  // `twostep key retire OLDEST --rekey-sms-numbers`: writes the number hash ("nh") of every SMS
  // method, confirmed or not, again under master key `key_id` (the key that will be the oldest
  // of the file), from the sealed number. Conditional on the params being unchanged: a method
  // changed or deleted meanwhile is left alone. `resealed` counts the methods re-keyed,
  // `failed` those whose number did not open or that changed meanwhile (logged);
  // Keyring::missing_key when the keyring lacks `key_id`. Code rows and throttle keys keep
  // their old hashes.
  Result<ResealCount> rekey_numbers(uint32_t key_id);

  // The regions numbers may belong to, for the enrolment form.
  std::vector<SmsRegion> regions() const;
  // Housekeeping: old codes and old daily counts.
  void purge();

 private:
  struct Number {
    std::string hash;    // keyed hash of the E.164 form
    std::string region;  // "CH"
    std::string masked;
  };
  Result<SmsSent> deliver(const store::User& user, int64_t method_id, const std::string& e164,
                          const Number& number, const char* purpose, const Client& client,
                          SmsDeadline deadline);
  // nullopt when the keyring lacks `key_id` (logged).
  std::optional<std::string> code_hash(uint32_t key_id, int64_t user_id, int64_t method_id,
                                       std::string_view purpose, std::string_view code) const;
  std::string number_hash(std::string_view e164) const;
  int region_budget(const std::string& region) const;

  Deps d_;
  Audit& audit_;
  TwoFactor& twofa_;
  SmsGateway& gateway_;
  crypto::Pepper code_pepper_;  // "sms-codes" under every master key
  std::string number_key_;      // "sms-numbers" under the oldest master key (see .cpp)
  std::string host_;            // of server.public_url, for the message's "@host #code" line
  std::map<std::string, int> budgets_;
};

}  // namespace twostep::services
