#include "twostep/services/twofa.hpp"

#include <algorithm>

#include "twostep/core/log.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/factors/qr.hpp"
#include "twostep/factors/recovery.hpp"

namespace twostep::services {
using core::Code;
using core::fail;

namespace {
constexpr int kRecoveryCodes = 10;
constexpr size_t kMaxCodeLength = 64;

core::Error invalid_code() {
  return core::Error{Code::kUnauthenticated, "invalid_code",
                     "That code is not valid. Check it and try again.", {}, 0};
}
}  // namespace

bool totp_capable(std::string_view type) { return type == "totp" || type == "push"; }

std::map<std::string, std::string> parse_params(std::string_view s) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(';', pos);
    if (end == std::string_view::npos) end = s.size();
    auto item = s.substr(pos, end - pos);
    auto eq = item.find('=');
    if (eq != std::string_view::npos) {
      out.emplace(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    }
    pos = end + 1;
  }
  return out;
}

std::string format_params(const std::map<std::string, std::string>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += ";";
    out += k + "=" + v;
  }
  return out;
}

Result<std::string> clean_label(std::string_view label, std::string_view fallback) {
  std::string out(label);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  while (!out.empty() && out.front() == ' ') out.erase(out.begin());
  if (out.empty()) return std::string(fallback);
  if (out.size() > 64) {
    return fail(Code::kInvalidArgument, "invalid_request", "label: at most 64 characters.");
  }
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) {
      return fail(Code::kInvalidArgument, "invalid_request", "label: no control characters.");
    }
  }
  return out;
}

TwoFactor::TwoFactor(Deps deps, Audit& audit)
    : d_(deps), audit_(audit), recovery_pepper_(deps.keyring, "recovery-codes") {}

std::optional<std::string> TwoFactor::recovery_hash(uint32_t key_id, int64_t user_id,
                                                    std::string_view canonical) const {
  auto hash =
      recovery_pepper_.hash_hex(key_id, std::to_string(user_id) + ":" + std::string(canonical));
  if (!hash) LOG_ERROR("recovery codes hashed with unknown master key id=" << key_id);
  return hash;
}

// A set is made and replaced whole under one key, so there is normally one key id; each is
// tried all the same, so that no mix of rows can lock a user out.
Result<bool> TwoFactor::use_recovery_code(int64_t user_id, std::string_view canonical,
                                          int64_t now) {
  TS_ASSIGN_OR_RETURN(std::vector<uint32_t> key_ids, d_.store.recovery_code_key_ids(user_id));
  std::optional<uint32_t> missing;
  for (uint32_t key_id : key_ids) {
    auto hash = recovery_hash(key_id, user_id, canonical);
    if (!hash) {
      missing = key_id;
      continue;
    }
    TS_ASSIGN_OR_RETURN(bool won, d_.store.use_recovery_code(user_id, key_id, *hash, now));
    if (won) return true;
  }
  // Not a wrong code: this process cannot check the codes made under a key it lacks.
  if (missing) return tl::unexpected(crypto::Keyring::missing_key(*missing));
  return false;
}

std::string TwoFactor::seal_seed(int64_t user_id, const std::string& type, const std::string& ref,
                                 std::string_view seed) const {
  return d_.keyring.seal(seed, type + "|user=" + std::to_string(user_id) + "|ref=" + ref);
}

Result<core::Secret> TwoFactor::method_seed(const store::Method& m) {
  auto p = parse_params(m.params);
  return d_.keyring.open(m.secret, m.type + "|user=" + std::to_string(m.user_id) + "|ref=" + p["ref"]);
}

Result<ResealCount> TwoFactor::reseal_secrets() {
  ResealCount n;
  TS_ASSIGN_OR_RETURN(auto methods,
                      d_.store.methods_sealed_with_other_keys(d_.keyring.current_id()));
  for (const auto& m : methods) {
    auto seed = method_seed(m);
    if (!seed) {
      LOG_ERROR("cannot reseal the secret of method id=" << m.id << ": " << seed.error().detail);
      ++n.failed;
      continue;
    }
    const std::string sealed =
        seal_seed(m.user_id, m.type, parse_params(m.params)["ref"], seed->view());
    TS_ASSIGN_OR_RETURN(bool won, d_.store.reseal_method_secret(m.id, m.secret, sealed));
    if (won) ++n.resealed;
  }
  return n;
}

Result<std::vector<store::Method>> TwoFactor::active_methods(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(auto all, d_.store.methods_of_user(user_id));
  std::vector<store::Method> out;
  for (auto& m : all) {
    if (m.confirmed) out.push_back(std::move(m));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.is_default != b.is_default) return a.is_default;
    if (a.created_at != b.created_at) return a.created_at < b.created_at;
    return a.id < b.id;
  });
  return out;
}

Result<bool> TwoFactor::enabled(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(auto ms, active_methods(user_id));
  return !ms.empty();
}

Result<std::optional<int64_t>> TwoFactor::match_totp(const store::Method& m, std::string_view code) {
  TS_ASSIGN_OR_RETURN(core::Secret seed, method_seed(m));
  auto p = parse_params(m.params);
  factors::TotpParams tp;
  if (auto alg = factors::parse_hash_alg(p["alg"].empty() ? "SHA1" : p["alg"])) tp.alg = *alg;
  if (!p["digits"].empty()) tp.digits = std::stoi(p["digits"]);
  if (!p["period"].empty()) tp.period = std::stoi(p["period"]);
  return factors::totp_match(tp, seed.view(), code, d_.clock.unix_now(), d_.config.totp.window);
}

void TwoFactor::add_code_type(std::string type, CodeChecker checker) {
  code_types_[std::move(type)] = std::move(checker);
}

void TwoFactor::add_confirm_type(std::string type, FirstCodeChecker checker) {
  confirm_types_[std::move(type)] = std::move(checker);
}

void TwoFactor::switch_off(std::string type, core::Error why) {
  off_types_[std::move(type)] = std::move(why);
}

bool TwoFactor::available(std::string_view type) const {
  return off_types_.find(type) == off_types_.end();
}

Status TwoFactor::check_available(std::string_view type) const {
  if (auto it = off_types_.find(type); it != off_types_.end()) return tl::unexpected(it->second);
  return core::ok();
}

std::vector<std::string> TwoFactor::available_types() const {
  std::vector<std::string> out;
  for (auto type : kMethodTypes) {
    if (available(type)) out.emplace_back(type);
  }
  return out;
}

Result<CodeCheck> TwoFactor::check_code(const store::User& user, std::string_view type,
                                        std::string_view code, std::optional<int64_t> method_id,
                                        const Client* client) {
  TS_RETURN_IF_ERROR(check_available(type));
  if (code.empty() || code.size() > kMaxCodeLength) return tl::unexpected(invalid_code());
  const int64_t now = d_.clock.unix_now();
  if (type == "recovery") {
    auto canonical = factors::normalize_recovery_code(code);
    if (!canonical) return tl::unexpected(invalid_code());
    TS_ASSIGN_OR_RETURN(bool won, use_recovery_code(user.id, *canonical, now));
    if (!won) return tl::unexpected(invalid_code());
    CodeCheck c;
    c.method_type = "recovery";
    TS_ASSIGN_OR_RETURN(c.recovery_remaining, d_.store.remaining_recovery_codes(user.id));
    return c;
  }
  if (auto it = code_types_.find(type); it != code_types_.end()) {
    return it->second(user, code, method_id, client != nullptr ? *client : Client{});
  }
  if (type != "totp") {
    std::string types = "totp, recovery";
    for (const auto& [name, checker] : code_types_) types += ", " + name;
    return fail(Code::kInvalidArgument, "invalid_request", "type: expected one of " + types + ".");
  }
  std::string digits;
  for (char ch : code) {
    if (ch != ' ' && ch != '-') digits.push_back(ch);
  }
  TS_ASSIGN_OR_RETURN(auto methods, active_methods(user.id));
  for (const auto& m : methods) {
    if (!totp_capable(m.type)) continue;
    if (method_id && m.id != *method_id) continue;
    TS_ASSIGN_OR_RETURN(auto step, match_totp(m, digits));
    if (!step) continue;
    // Use once: the step (and every earlier one) is spent by a single conditional write.
    TS_ASSIGN_OR_RETURN(bool won, d_.store.advance_method_step(m.id, *step, now));
    if (!won) return tl::unexpected(invalid_code());
    return CodeCheck{m.id, m.type, -1};
  }
  return tl::unexpected(invalid_code());
}

Result<TotpEnrollment> TwoFactor::begin_totp(const store::User& user, std::string_view label) {
  TS_ASSIGN_OR_RETURN(std::string clean, clean_label(label, "Authenticator app"));
  const int64_t now = d_.clock.unix_now();
  std::string seed = crypto::random_bytes(20);  // 160 bits, RFC 4226's recommendation
  std::string ref = crypto::hex_encode(crypto::random_bytes(8));
  store::Method m;
  m.user_id = user.id;
  m.type = "totp";
  m.label = clean;
  m.params = format_params({{"alg", "SHA1"}, {"digits", "6"}, {"period", "30"}, {"ref", ref}});
  m.secret = seal_seed(user.id, "totp", ref, seed);
  m.created_at = now;
  TS_ASSIGN_OR_RETURN(store::Method stored, d_.store.create_method(m));
  TotpEnrollment e;
  e.method_id = stored.id;
  e.secret_base32 = crypto::base32_encode(seed);
  core::secure_zero(seed.data(), seed.size());
  e.otpauth_uri = factors::otpauth_uri(factors::TotpParams{}, d_.config.totp.issuer, user.username,
                                       e.secret_base32);
  TS_ASSIGN_OR_RETURN(e.qr_svg, factors::qr_svg(e.otpauth_uri));
  return e;
}

Result<std::vector<std::string>> TwoFactor::confirm(const store::User& user, int64_t method_id,
                                                    std::string_view code, const Client& client) {
  auto m = d_.store.method_of_user(user.id, method_id);
  if (!m) {
    if (m.error().code == Code::kNotFound) return fail(Code::kNotFound, "not_found", "No such method.");
    return tl::unexpected(m.error());
  }
  const int64_t now = d_.clock.unix_now();
  if (m->confirmed) {
    return fail(Code::kFailedPrecondition, "conflict", "This method is already confirmed.");
  }
  // A setup begun before the operator switched its type off does not finish.
  TS_RETURN_IF_ERROR(check_available(m->type));
  if (m->created_at + d_.config.totp.unconfirmed_ttl_s < now) {
    (void)d_.store.delete_method(user.id, method_id);
    return fail(Code::kNotFound, "not_found", "This setup has expired. Start again.");
  }
  auto own = confirm_types_.find(m->type);
  if (own == confirm_types_.end() && !totp_capable(m->type)) {
    return fail(Code::kInvalidArgument, "invalid_request", "This method is confirmed differently.");
  }
  if (m->type == "push" && m->secret.empty()) {
    // A push method gets its seed when the authenticator enrols (POST /devices/enroll).
    return fail(Code::kFailedPrecondition, "not_enrolled",
                "Enrol the authenticator with the link or QR code first, then enter its code.");
  }
  if (code.empty() || code.size() > kMaxCodeLength) {
    return fail(Code::kInvalidArgument, "invalid_code", "That code is not valid.");
  }
  if (own != confirm_types_.end()) {
    if (auto st = own->second(*m, code); !st) {
      if (st.error().reason == "invalid_code") {
        audit_.record(user.id, "method_confirm_failed", client, {{"type", m->type}});
      }
      return tl::unexpected(st.error());
    }
    return activate(user, *m, client);
  }
  TS_ASSIGN_OR_RETURN(auto step, match_totp(*m, code));
  if (!step) {
    audit_.record(user.id, "method_confirm_failed", client, {{"type", m->type}});
    return fail(Code::kInvalidArgument, "invalid_code",
                "That code is not valid. Check the time on your phone and try the current code.");
  }
  TS_ASSIGN_OR_RETURN(bool won, d_.store.advance_method_step(m->id, *step, now));
  if (!won) return fail(Code::kInvalidArgument, "invalid_code", "That code was already used.");
  return activate(user, *m, client);
}

Result<std::vector<std::string>> TwoFactor::activate(const store::User& user,
                                                     const store::Method& m, const Client& client) {
  TS_ASSIGN_OR_RETURN(bool was_on, enabled(user.id));
  TS_RETURN_IF_ERROR(d_.store.confirm_method(user.id, m.id, d_.clock.unix_now()));
  if (!was_on) {
    // Two-step verification starts now: earlier password-only sign-ins no longer count as a
    // recent re-authentication (removing it again needs password + second factor).
    TS_RETURN_IF_ERROR(d_.store.clear_auth_times(user.id));
  }
  audit_.record(user.id, "method_added", client, {{"type", m.type}, {"label", m.label}});
  return new_recovery_codes(user, client);
}

Result<std::vector<std::string>> TwoFactor::new_recovery_codes(const store::User& user,
                                                               const Client& client) {
  auto codes = factors::generate_recovery_codes(kRecoveryCodes);
  std::vector<std::string> hashes;
  hashes.reserve(codes.size());
  for (const auto& c : codes) {
    hashes.push_back(*recovery_hash(recovery_pepper_.current_id(), user.id,
                                    *factors::normalize_recovery_code(c)));
  }
  TS_RETURN_IF_ERROR(d_.store.replace_recovery_codes(user.id, hashes,
                                                     recovery_pepper_.current_id(),
                                                     d_.clock.unix_now()));
  audit_.record(user.id, "recovery_codes_generated", client);
  return codes;
}

Result<int> TwoFactor::recovery_remaining(int64_t user_id) {
  return d_.store.remaining_recovery_codes(user_id);
}

Status TwoFactor::rename(const store::User& user, int64_t method_id, std::string_view label,
                         const Client& client) {
  TS_ASSIGN_OR_RETURN(std::string clean, clean_label(label, ""));
  if (clean.empty()) return fail(Code::kInvalidArgument, "invalid_request", "label: required.");
  auto st = d_.store.rename_method(user.id, method_id, clean);
  if (!st && st.error().code == Code::kNotFound) {
    return fail(Code::kNotFound, "not_found", "No such method.");
  }
  TS_RETURN_IF_ERROR(st);
  audit_.record(user.id, "method_renamed", client, {{"method_id", std::to_string(method_id)}});
  return {};
}

Status TwoFactor::set_default(const store::User& user, int64_t method_id, const Client& client) {
  auto m = d_.store.method_of_user(user.id, method_id);
  if (!m || !m->confirmed) return fail(Code::kNotFound, "not_found", "No such method.");
  TS_RETURN_IF_ERROR(d_.store.set_default_method(user.id, method_id));
  audit_.record(user.id, "default_method_changed", client, {{"type", m->type}, {"label", m->label}});
  return {};
}

Status TwoFactor::remove(const store::User& user, int64_t method_id, const Client& client) {
  auto m = d_.store.method_of_user(user.id, method_id);
  if (!m) return fail(Code::kNotFound, "not_found", "No such method.");
  TS_RETURN_IF_ERROR(d_.store.delete_method(user.id, method_id));
  audit_.record(user.id, "method_removed", client, {{"type", m->type}, {"label", m->label}});
  TS_ASSIGN_OR_RETURN(bool still, enabled(user.id));
  if (!still) return disable(user, client, "last_method_removed");
  return {};
}

Status TwoFactor::disable(const store::User& user, const Client& client, const char* reason) {
  TS_ASSIGN_OR_RETURN(int n, d_.store.delete_all_methods(user.id));
  audit_.record(user.id, "twofa_disabled", client, {{"reason", reason}, {"methods", std::to_string(n)}});
  return {};
}

void TwoFactor::purge_unconfirmed() {
  (void)d_.store.delete_unconfirmed_methods(d_.clock.unix_now() - d_.config.totp.unconfirmed_ttl_s);
}

}  // namespace twostep::services
