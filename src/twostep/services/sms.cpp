#include "twostep/services/sms.hpp"

#include <algorithm>
#include <charconv>

#include "twostep/core/log.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/factors/sms/code.hpp"
#include "twostep/factors/sms/phone.hpp"

namespace twostep::services {

using core::Code;
using core::fail;

namespace {

constexpr int64_t kDay = 86400;
constexpr const char* kEnroll = "enroll";
constexpr const char* kAuth = "auth";
constexpr const char* kWrongCodeMessage = "That code is not valid. Check it and try again.";
constexpr const char* kNoLiveCodeMessage =
    "There is no valid code to check: it expired, was used, or was tried too often. Ask for a "
    "new code.";

core::Error bad(const std::string& key, const std::string& what) {
  return core::Error{Code::kInvalidArgument, "invalid_config", "sms." + key + ": " + what, {}, 0};
}

Status in_range(const char* key, int v, int lo, int hi) {
  if (v < lo || v > hi) {
    return tl::unexpected(
        bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi)));
  }
  return {};
}

// "CH=5000" → {"CH", 5000}.
std::optional<std::pair<std::string, int>> parse_budget(std::string_view entry) {
  auto eq = entry.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  std::string region(entry.substr(0, eq));
  auto digits = entry.substr(eq + 1);
  int n = -1;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || p != digits.data() + digits.size() || n < 0) return std::nullopt;
  return std::make_pair(region, n);
}

// "https://id.example.com:8443/x" → "id.example.com".
std::string host_of(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (!url.empty() && url.front() == '[') return std::string(url.substr(0, url.find(']') + 1));
  return std::string(url.substr(0, url.find(':')));
}

}  // namespace

Status check_sms_config(const core::Config& config) {
  const auto& s = config.sms;
  TS_RETURN_IF_ERROR(factors::sms::check_regions(s.allowed_regions));
  TS_RETURN_IF_ERROR(in_range("code_ttl_s", s.code_ttl_s, 1, 3600));
  TS_RETURN_IF_ERROR(in_range("max_attempts", s.max_attempts, 1, 20));
  TS_RETURN_IF_ERROR(in_range("resend_cooldown_s", s.resend_cooldown_s, 0, 86400));
  TS_RETURN_IF_ERROR(in_range("threads", s.threads, 1, 64));
  TS_RETURN_IF_ERROR(in_range("queue", s.queue, 1, 100000));
  for (const auto& entry : s.region_budgets) {
    auto b = parse_budget(entry);
    if (!b)
      return tl::unexpected(
          bad("region_budgets", "expected \"CC=N\" entries, got '" + entry + "'"));
    if (std::find(s.allowed_regions.begin(), s.allowed_regions.end(), b->first) ==
        s.allowed_regions.end()) {
      return tl::unexpected(
          bad("region_budgets", "'" + b->first + "' is not in sms.allowed_regions"));
    }
  }
  return check_gateway_config(s);
}

Sms::Sms(Deps deps, Audit& audit, TwoFactor& twofa, SmsGateway& gateway)
    : d_(deps),
      audit_(audit),
      twofa_(twofa),
      gateway_(gateway),
      code_pepper_(deps.keyring, "sms-codes"),
      // Number hashes are compared only in SQL (cool-downs, per-number daily quotas), across
      // accounts and instances, so they need one key that rotation does not change: the oldest.
      // Rotation appends keys, so old and new key files agree on it during a rolling restart.
      number_key_(*deps.keyring.derive("sms-numbers", deps.keyring.ids().front())),
      host_(host_of(deps.config.server.public_url)) {
  for (const auto& entry : d_.config.sms.region_budgets) {
    if (auto b = parse_budget(entry)) budgets_[b->first] = b->second;
  }
  d_.metrics.describe("twostep_sms_total", "counter", "SMS codes asked for, by outcome.");
  twofa_.add_code_type(
      "sms", [this](const store::User& u, std::string_view code, std::optional<int64_t> method_id,
                    const Client&) { return check_code(u, code, method_id); });
  twofa_.add_confirm_type("sms", [this](const store::Method& m, std::string_view code) {
    return confirm_code(m, code);
  });
  if (sms_off(d_.config.sms)) twofa_.switch_off("sms", sms_disabled());
}

bool Sms::enabled() const { return twofa_.available("sms"); }

std::optional<std::string> Sms::code_hash(uint32_t key_id, int64_t user_id, int64_t method_id,
                                          std::string_view purpose, std::string_view code) const {
  auto hash =
      code_pepper_.hash_hex(key_id, std::to_string(user_id) + ":" + std::to_string(method_id) +
                                        ":" + std::string(purpose) + ":" + std::string(code));
  if (!hash) LOG_ERROR("SMS code hashed with unknown master key id=" << key_id);
  return hash;
}

std::string Sms::number_hash(std::string_view e164) const {
  return crypto::keyed_hash_hex(number_key_, e164);
}

Result<ResealCount> Sms::rekey_numbers(uint32_t key_id) {
  auto key = d_.keyring.derive("sms-numbers", key_id);
  if (!key) return tl::unexpected(crypto::Keyring::missing_key(key_id));
  ResealCount n;
  TS_ASSIGN_OR_RETURN(auto methods, d_.store.methods_of_type("sms"));
  for (const auto& m : methods) {
    auto e164 = twofa_.method_seed(m);
    if (!e164) {
      LOG_ERROR("cannot re-key the number hash of method id=" << m.id << ": "
                                                               << e164.error().detail);
      ++n.failed;
      continue;
    }
    auto params = parse_params(m.params);
    params["nh"] = crypto::keyed_hash_hex(*key, e164->view());
    TS_ASSIGN_OR_RETURN(bool won,
                        d_.store.rekey_method_params(m.id, m.params, format_params(params)));
    if (won) {
      ++n.resealed;
    } else {
      LOG_ERROR("cannot re-key the number hash of method id=" << m.id
                                                               << ": it changed meanwhile");
      ++n.failed;
    }
  }
  return n;
}

int Sms::region_budget(const std::string& region) const {
  auto it = budgets_.find(region);
  return it == budgets_.end() ? d_.config.sms.region_daily_budget : it->second;
}

std::vector<SmsRegion> Sms::regions() const {
  std::vector<SmsRegion> out;
  for (const auto& r : d_.config.sms.allowed_regions) {
    out.push_back(SmsRegion{r, factors::sms::region_name(r), factors::sms::calling_code(r)});
  }
  return out;
}

Result<SmsSent> Sms::deliver(const store::User& user, int64_t method_id, const std::string& e164,
                             const Number& number, const char* purpose, const Client& client,
                             SmsDeadline deadline) {
  const auto& cfg = d_.config.sms;
  if (deadline != SmsDeadline{} &&
      std::chrono::steady_clock::now() + std::chrono::milliseconds(100) >= deadline) {
    // The job waited in the sms queue behind a slow provider for the whole budget.
    d_.metrics.inc("twostep_sms_total", "outcome=\"failed\"");
    return tl::unexpected(
        sms_delivery_failed("sms: the delivery budget ran out while waiting for a free worker"));
  }
  const int64_t now = d_.clock.unix_now();
  const int64_t day = now / kDay;
  core::Secret code(factors::sms::generate_code());

  store::SmsCode row;
  row.user_id = user.id;
  row.method_id = method_id;
  row.purpose = purpose;
  row.number_hash = number.hash;
  row.key_id = code_pepper_.current_id();
  row.code_hash = *code_hash(row.key_id, user.id, method_id, purpose, code.view());
  row.created_at = now;
  row.expires_at = now + cfg.code_ttl_s;
  const std::vector<store::SmsQuota> quotas = {
      {"sms:user:" + std::to_string(user.id), cfg.user_daily_max},
      {"sms:number:" + number.hash, cfg.number_daily_max},
      {"sms:ip:" + client.ip, cfg.ip_daily_max},
      {"sms:region:" + number.region, region_budget(number.region)},
  };
  TS_ASSIGN_OR_RETURN(store::SmsReservation slot,
                      d_.store.sms_reserve(row, cfg.resend_cooldown_s, day, quotas));
  if (slot.retry_after_s > 0) {
    d_.metrics.inc("twostep_sms_total", "outcome=\"cooldown\"");
    int wait = static_cast<int>(slot.retry_after_s);
    return core::fail_retry(Code::kResourceExhausted, "rate_limited",
                            "A code was just sent to this number. Wait " + std::to_string(wait) +
                                (wait == 1 ? " second" : " seconds") +
                                " before asking for another one.",
                            wait);
  }
  if (!slot.over_quota.empty()) {
    d_.metrics.inc("twostep_sms_total", "outcome=\"limited\"");
    const int until_tomorrow = static_cast<int>(kDay - now % kDay);
    std::string which = "user";
    std::string message =
        "You have asked for too many codes by SMS today. Use another method or a recovery code.";
    if (slot.over_quota == quotas[1].key) {
      which = "number";
      message =
          "Too many codes were sent to this number today. Use another method or a "
          "recovery code.";
    } else if (slot.over_quota == quotas[2].key) {
      which = "address";
      message =
          "Too many codes by SMS were asked for from your network today. Use another "
          "method or a recovery code.";
    } else if (slot.over_quota == quotas[3].key) {
      which = "region";
      message = "Codes by SMS to " + factors::sms::region_name(number.region) +
                " are paused for today. Use another method or a recovery code.";
      // A whole country's budget running out is how SMS pumping shows: tell the operator.
      LOG_WARN("sms daily budget for region " << number.region << " is used up ("
                                              << region_budget(number.region) << ")");
    }
    audit_.record(user.id, "sms_limit_reached", client, {{"limit", which}, {"purpose", purpose}});
    return core::fail_retry(Code::kResourceExhausted, "sms_limit_reached", message, until_tomorrow);
  }

  // No transaction is open here: the reservation is committed, the gateway may take seconds.
  core::Secret text(
      factors::sms::message_text(code.view(), d_.config.totp.issuer, host_, cfg.code_ttl_s));
  core::Status delivered = gateway_.send(SmsMessage{e164, text.str(), deadline});
  if (!delivered) {
    std::vector<std::string> keys;
    for (const auto& q : quotas) keys.push_back(q.key);
    if (auto st = d_.store.sms_cancel(slot.code_id, day, keys); !st) {
      LOG_ERROR("sms: could not take back a failed send: " << st.error().detail);
    }
    d_.metrics.inc("twostep_sms_total", "outcome=\"failed\"");
    LOG_WARN("sms delivery failed gateway=" << gateway_.name() << " " << delivered.error().detail);
    audit_.record(
        user.id, "sms_delivery_failed", client,
        {{"purpose", purpose}, {"to", number.masked}, {"gateway", std::string(gateway_.name())}});
    return tl::unexpected(delivered.error());
  }
  TS_RETURN_IF_ERROR(d_.store.sms_mark_sent(slot.code_id));
  d_.metrics.inc("twostep_sms_total", "outcome=\"sent\"");
  audit_.record(user.id, "sms_sent", client, {{"purpose", purpose}, {"to", number.masked}});
  return SmsSent{method_id, number.masked, cfg.code_ttl_s, cfg.resend_cooldown_s};
}

Result<SmsSent> Sms::enrol(const store::User& user, std::string_view phone, std::string_view region,
                           std::string_view label, const Client& client, SmsDeadline deadline) {
  TS_RETURN_IF_ERROR(twofa_.check_available("sms"));
  auto parsed = factors::sms::parse_phone(phone, region, d_.config.sms.allowed_regions);
  if (!parsed) {
    const auto& reason = parsed.error().reason;
    if (reason == "sms_region_not_allowed" || reason == "sms_not_mobile") {
      audit_.record(user.id, "sms_number_refused", client, {{"reason", reason}});
    }
    return tl::unexpected(parsed.error());
  }
  TS_ASSIGN_OR_RETURN(std::string clean, clean_label(label, parsed->masked));
  Number number{number_hash(parsed->e164), parsed->region, parsed->masked};

  TS_ASSIGN_OR_RETURN(auto existing, d_.store.methods_of_user(user.id));
  for (const auto& m : existing) {
    if (m.type == "sms" && m.confirmed && parse_params(m.params)["nh"] == number.hash) {
      return fail(Code::kAlreadyExists, "conflict",
                  "This number is already set up for two-step verification.");
    }
  }
  const int64_t now = d_.clock.unix_now();
  const std::string ref = crypto::hex_encode(crypto::random_bytes(8));
  store::Method m;
  m.user_id = user.id;
  m.type = "sms";
  m.label = clean;
  m.params = format_params(
      {{"ref", ref}, {"nh", number.hash}, {"region", number.region}, {"masked", number.masked}});
  // Sealed like an OTP seed: the associated data binds it to this user and this method's ref.
  m.secret = twofa_.seal_seed(user.id, "sms", ref, parsed->e164);
  m.created_at = now;
  TS_ASSIGN_OR_RETURN(store::Method created, d_.store.create_method(m));

  auto sent = deliver(user, created.id, parsed->e164, number, kEnroll, client, deadline);
  if (!sent) {
    (void)d_.store.delete_method(user.id, created.id);
    return sent;
  }
  // The new code supersedes earlier unfinished setups of the same number.
  for (const auto& old : existing) {
    if (old.type == "sms" && !old.confirmed && parse_params(old.params)["nh"] == number.hash) {
      (void)d_.store.delete_method(user.id, old.id);
    }
  }
  return sent;
}

Result<SmsSent> Sms::send_code(const store::User& user, std::optional<int64_t> method_id,
                               const Client& client, SmsDeadline deadline) {
  TS_RETURN_IF_ERROR(twofa_.check_available("sms"));
  TS_ASSIGN_OR_RETURN(auto methods, twofa_.active_methods(user.id));
  const store::Method* chosen = nullptr;
  for (const auto& m : methods) {
    if (method_id ? m.id == *method_id : m.type == "sms") {
      chosen = &m;
      break;
    }
  }
  if (chosen == nullptr) return fail(Code::kNotFound, "not_found", "No such method.");
  if (chosen->type != "sms") {
    return fail(Code::kInvalidArgument, "invalid_request", "method_id: not an SMS method.");
  }
  auto params = parse_params(chosen->params);
  Number number{params["nh"], params["region"], params["masked"]};
  const auto& allowed = d_.config.sms.allowed_regions;
  if (std::find(allowed.begin(), allowed.end(), number.region) == allowed.end()) {
    // The operator removed the region since this number was added.
    return fail(Code::kInvalidArgument, "sms_region_not_allowed",
                "Codes by SMS can only be sent to mobile numbers in " +
                    factors::sms::region_list(allowed) + ". Use another method.");
  }
  TS_ASSIGN_OR_RETURN(core::Secret e164, twofa_.method_seed(*chosen));
  return deliver(user, chosen->id, e164.str(), number, kAuth, client, deadline);
}

Result<SmsVerdict> Sms::verify(const store::Method& m, std::string_view code, bool enrolment) {
  auto digits = factors::sms::normalize_code(code);
  if (!digits) return SmsVerdict::kWrong;
  const char* purpose = enrolment ? kEnroll : kAuth;
  auto latest = d_.store.sms_latest_code(m.user_id, m.id, purpose);
  if (!latest) {
    if (latest.error().code == Code::kNotFound) return SmsVerdict::kNoLiveCode;
    return tl::unexpected(latest.error());
  }
  const int64_t now = d_.clock.unix_now();
  // The attempt is spent before the comparison: parallel guesses get max_attempts in total.
  TS_ASSIGN_OR_RETURN(bool left,
                      d_.store.sms_spend_attempt(latest->id, d_.config.sms.max_attempts, now));
  if (!left) return SmsVerdict::kNoLiveCode;
  auto expected = code_hash(latest->key_id, m.user_id, m.id, purpose, *digits);
  if (!expected) return tl::unexpected(crypto::Keyring::missing_key(latest->key_id));
  if (!crypto::ct_equal(*expected, latest->code_hash)) {
    return SmsVerdict::kWrong;
  }
  TS_ASSIGN_OR_RETURN(bool won, d_.store.sms_consume(latest->id, now));
  if (!won) return SmsVerdict::kNoLiveCode;
  if (!enrolment) (void)d_.store.touch_method(m.id, now);
  return SmsVerdict::kAccepted;
}

Result<CodeCheck> Sms::check_code(const store::User& user, std::string_view code,
                                  std::optional<int64_t> method_id) {
  TS_ASSIGN_OR_RETURN(auto methods, twofa_.active_methods(user.id));
  bool live = false;
  for (const auto& m : methods) {
    if (m.type != "sms" || (method_id && m.id != *method_id)) continue;
    TS_ASSIGN_OR_RETURN(SmsVerdict verdict, verify(m, code, /*enrolment=*/false));
    if (verdict == SmsVerdict::kAccepted) return CodeCheck{m.id, m.type, -1};
    live = live || verdict == SmsVerdict::kWrong;
  }
  return fail(Code::kUnauthenticated, "invalid_code",
              live ? kWrongCodeMessage : kNoLiveCodeMessage);
}

Status Sms::confirm_code(const store::Method& m, std::string_view code) {
  TS_ASSIGN_OR_RETURN(SmsVerdict verdict, verify(m, code, /*enrolment=*/true));
  if (verdict == SmsVerdict::kAccepted) return core::ok();
  return fail(Code::kInvalidArgument, "invalid_code",
              verdict == SmsVerdict::kWrong ? kWrongCodeMessage : kNoLiveCodeMessage);
}

void Sms::purge() {
  const int64_t now = d_.clock.unix_now();
  // Codes stay a day so that the cool-down and the audit trail can see them.
  (void)d_.store.sms_purge(now - kDay, now / kDay - 1);
}

}  // namespace twostep::services
