#include "twostep/services/security_keys.hpp"

#include <stdexcept>

#include "twostep/core/log.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/factors/yubico_otp/yubico_otp.hpp"

namespace twostep::services {
using core::Code;
using core::fail;
namespace wa = factors::webauthn;
namespace yk = factors::yubico_otp;

namespace {

constexpr const char* kRegister = "register";
constexpr const char* kSignIn = "login";
constexpr const char* kReauth = "reauth";

core::Error refused(Code code, std::string message, std::string detail = {}) {
  return core::Error{code, "invalid_security_key", std::move(message), std::move(detail), 0};
}

core::Error invalid_code() {
  return core::Error{Code::kUnauthenticated,
                     "invalid_code",
                     "That code is not valid. Check it and try again.",
                     {},
                     0};
}

std::string yubikey_ad(const std::string& public_id) { return "yubikey|public_id=" + public_id; }

bool known_transport(std::string_view t) {
  return t == "usb" || t == "nfc" || t == "ble" || t == "internal" || t == "hybrid" ||
         t == "smart-card";
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(sep, pos);
    if (end == std::string_view::npos) end = s.size();
    if (end > pos) out.emplace_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// An imported key's OTP, decrypted: the key row and the counters it carries.
struct DecryptedOtp {
  store::YubikeyRecord key;
  yk::OtpCounter counter;
};

}  // namespace

SecurityKeys::SecurityKeys(Deps deps, Audit& audit, TwoFactor& twofa, Login& login)
    : d_(deps),
      audit_(audit),
      twofa_(twofa),
      login_(login),
      legacy_handle_key_(*deps.keyring.derive("webauthn-user-handle", deps.keyring.ids().front())) {
  auto rp = wa::relying_party(d_.config.server.public_url, d_.config.webauthn.origins,
                              d_.config.webauthn.user_verification == "required");
  if (!rp) throw std::invalid_argument(rp.error().message);
  rp_ = std::move(*rp);
  twofa_.add_code_type("yubiotp", [this](const store::User& u, std::string_view code,
                                         std::optional<int64_t> method_id, const Client& c) {
    return check_otp(u, code, method_id, c);
  });
}

// --- WebAuthn -------------------------------------------------------------------------

Result<std::string> SecurityKeys::user_handle(int64_t user_id) {
  // Opaque and stable per user; reveals neither the id nor the name (§14.6.1). Stored on first
  // use. The first value is what twostep derived before handles were stored (migration 0007):
  // the handle the account's keys hold, else the same derivation under the oldest master key
  // (the only key of a file never rotated), so an authenticator that still keeps a resident
  // credential of this account is not given a second handle for it.
  std::string candidate;
  TS_ASSIGN_OR_RETURN(auto methods, d_.store.methods_of_user(user_id));
  for (const auto& m : methods) {
    if (m.type != "webauthn") continue;
    auto uh = crypto::base64url_decode(parse_params(m.params)["uh"]);
    if (uh && !uh->empty() && uh->size() <= 64) {  // WebAuthn: at most 64 bytes
      candidate = std::move(*uh);
      break;
    }
  }
  if (candidate.empty()) {
    candidate = *crypto::hex_decode(
        crypto::keyed_hash_hex(legacy_handle_key_.view(), "user:" + std::to_string(user_id)));
  }
  return d_.store.webauthn_user_handle(user_id, candidate);
}

Result<std::vector<CredentialDescriptor>> SecurityKeys::credentials_of(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(auto methods, twofa_.active_methods(user_id));
  std::vector<CredentialDescriptor> out;
  for (const auto& m : methods) {
    if (m.type != "webauthn") continue;
    auto id = crypto::base64url_decode(m.lookup);
    if (!id) continue;
    out.push_back(CredentialDescriptor{std::move(*id), split(parse_params(m.params)["tr"], ',')});
  }
  return out;
}

Result<std::string> SecurityKeys::take_challenge(int64_t session_id, const char* purpose) {
  auto ch = d_.store.take_webauthn_challenge(session_id, purpose, d_.clock.unix_now());
  if (!ch && ch.error().code == Code::kNotFound) {
    return tl::unexpected(refused(Code::kInvalidArgument,
                                  "This security key request expired or was already answered. "
                                  "Try again.",
                                  "no live challenge"));
  }
  return ch;
}

Result<store::Method> SecurityKeys::create_pending_method(const store::User& user,
                                                          store::Method m) {
  m.user_id = user.id;
  m.confirmed = false;  // TwoFactor::activate confirms it
  m.created_at = d_.clock.unix_now();
  auto stored = d_.store.create_method(m);
  if (!stored && stored.error().code == Code::kAlreadyExists) {
    return fail(Code::kAlreadyExists, "already_registered",
                m.type == "webauthn" ? "This security key is already registered."
                                     : "This YubiKey is already registered to an account.");
  }
  return stored;
}

Result<CreationOptions> SecurityKeys::registration_options(const SessionView& s) {
  CreationOptions o;
  o.challenge = crypto::random_bytes(wa::kChallengeSize);
  TS_RETURN_IF_ERROR(d_.store.put_webauthn_challenge(s.session.id, kRegister, o.challenge,
                                                     d_.clock.unix_now() + kWebauthnChallengeTtlS));
  o.rp_id = rp_.id;
  o.rp_name = d_.config.webauthn.rp_name;
  TS_ASSIGN_OR_RETURN(o.user_handle, user_handle(s.user.id));
  o.user_name = s.user.username;
  o.algorithms = {wa::kEs256, wa::kEdDsa, wa::kRs256};
  TS_ASSIGN_OR_RETURN(o.exclude, credentials_of(s.user.id));
  o.user_verification = d_.config.webauthn.user_verification;
  o.attestation = d_.config.webauthn.attestation;
  return o;
}

Result<NewMethod> SecurityKeys::register_key(const SessionView& s, const CredentialResponse& cred,
                                             std::string_view label, const Client& client) {
  TS_ASSIGN_OR_RETURN(std::string clean, clean_label(label, "Security key"));
  TS_ASSIGN_OR_RETURN(std::string challenge, take_challenge(s.session.id, kRegister));
  auto reg =
      wa::verify_registration(rp_, challenge, cred.client_data_json, cred.attestation_object);
  if (!reg) {
    audit_.record(s.user.id, "security_key_refused", client,
                  {{"type", "webauthn"}, {"step", "registration"}, {"reason", reg.error().reason}});
    return tl::unexpected(refused(Code::kInvalidArgument, reg.error().message, reg.error().detail));
  }
  if (!cred.raw_id.empty() && cred.raw_id != reg->credential_id) {
    return tl::unexpected(refused(Code::kInvalidArgument, "The security key's answer is malformed.",
                                  "rawId differs from the attested credential id"));
  }
  std::vector<std::string> transports;
  for (const auto& t : cred.transports) {
    if (known_transport(t)) transports.push_back(t);
  }
  std::string tr;
  for (const auto& t : transports) tr += (tr.empty() ? "" : ",") + t;
  TS_ASSIGN_OR_RETURN(std::string handle, user_handle(s.user.id));
  store::Method m;
  m.type = "webauthn";
  m.label = clean;
  m.lookup = crypto::base64url_encode(reg->credential_id);
  m.params = format_params({{"alg", std::to_string(reg->alg)},
                            {"pk", crypto::base64url_encode(reg->public_key_cose)},
                            {"uh", crypto::base64url_encode(handle)},
                            {"fmt", reg->fmt},
                            {"att", reg->attestation_type},
                            {"aaguid", crypto::hex_encode(reg->aaguid)},
                            {"uv", reg->user_verified ? "1" : "0"},
                            {"tr", tr}});
  m.last_step = reg->sign_count;
  TS_ASSIGN_OR_RETURN(store::Method stored, create_pending_method(s.user, std::move(m)));
  NewMethod out;
  out.method_id = stored.id;
  TS_ASSIGN_OR_RETURN(out.recovery_codes, twofa_.activate(s.user, stored, client));
  return out;
}

Result<RequestOptions> SecurityKeys::request_options(const SessionView& s, const char* purpose) {
  RequestOptions o;
  TS_ASSIGN_OR_RETURN(o.allow, credentials_of(s.user.id));
  if (o.allow.empty()) {
    return fail(Code::kFailedPrecondition, "no_security_key",
                "No security key is registered for this account. Use another method.");
  }
  o.challenge = crypto::random_bytes(wa::kChallengeSize);
  TS_RETURN_IF_ERROR(d_.store.put_webauthn_challenge(s.session.id, purpose, o.challenge,
                                                     d_.clock.unix_now() + kWebauthnChallengeTtlS));
  o.rp_id = rp_.id;
  o.user_verification = d_.config.webauthn.user_verification;
  return o;
}

Result<RequestOptions> SecurityKeys::login_options(const SessionView& pending) {
  return request_options(pending, kSignIn);
}

Result<RequestOptions> SecurityKeys::reauth_options(const SessionView& s) {
  return request_options(s, kReauth);
}

Result<CodeCheck> SecurityKeys::check_assertion(const SessionView& s, const char* purpose,
                                                const CredentialResponse& cred,
                                                const Client& client) {
  const int64_t uid = s.user.id;
  auto refuse = [](std::string message, std::string detail) {
    return tl::unexpected(refused(Code::kUnauthenticated, std::move(message), std::move(detail)));
  };
  auto challenge = take_challenge(s.session.id, purpose);
  if (!challenge) {
    if (challenge.error().code != Code::kInvalidArgument) return tl::unexpected(challenge.error());
    return refuse(challenge.error().message, challenge.error().detail);
  }
  auto m = d_.store.method_by_lookup("webauthn", crypto::base64url_encode(cred.raw_id));
  if (!m && m.error().code != Code::kNotFound) return tl::unexpected(m.error());
  if (!m || m->user_id != uid || !m->confirmed) {
    if (m && m->user_id != uid) {
      audit_.record(uid, "security_key_foreign", client, {{"type", "webauthn"}});
    }
    return refuse("This security key is not registered for this account.", "unknown credential");
  }
  auto p = parse_params(m->params);
  auto pk = crypto::base64url_decode(p["pk"]);
  if (!pk) {
    return tl::unexpected(
        core::internal("webauthn method " + std::to_string(m->id) + " has no key"));
  }
  auto a = wa::verify_assertion(rp_, *challenge, cred.client_data_json, cred.authenticator_data,
                                cred.signature, *pk);
  if (!a) return refuse(a.error().message, a.error().detail);
  if (!cred.user_handle.empty() && !p["uh"].empty() &&
      crypto::base64url_encode(cred.user_handle) != p["uh"]) {
    return refuse("This security key belongs to another account.", "userHandle mismatch");
  }

  const int64_t now = d_.clock.unix_now();
  const uint32_t stored = m->last_step < 0 ? 0 : static_cast<uint32_t>(m->last_step);
  bool counter_ok = wa::counter_ok(stored, a->sign_count);
  if (counter_ok && a->sign_count > 0) {
    // Use once: a concurrent answer that reported the same counter loses here.
    TS_ASSIGN_OR_RETURN(counter_ok, d_.store.advance_method_step(m->id, a->sign_count, now));
  } else if (counter_ok) {
    TS_RETURN_IF_ERROR(d_.store.touch_method(m->id, now));
  }
  if (!counter_ok) {
    audit_.record(uid, "security_key_counter_regression", client,
                  {{"type", "webauthn"},
                   {"label", m->label},
                   {"stored", std::to_string(stored)},
                   {"received", std::to_string(a->sign_count)},
                   {"note", "possible cloned key"}});
    return refuse(
        "This security key's signature counter went backwards: it may have been cloned. "
        "Use another method and check your keys.",
        "counter regression");
  }
  return CodeCheck{m->id, "webauthn", -1};
}

Result<SecondStepOutcome> SecurityKeys::login(const SessionView& pending,
                                              const CredentialResponse& cred,
                                              const Client& client) {
  if (pending.session.state != store::SessionState::kPendingSecondFactor) {
    return fail(Code::kFailedPrecondition, "conflict", "This sign-in is already complete.");
  }
  TS_RETURN_IF_ERROR(login_.check_second_factor_lock(pending.user.id));
  auto check = check_assertion(pending, kSignIn, cred, client);
  if (!check) {
    if (check.error().code != Code::kUnauthenticated) return tl::unexpected(check.error());
    // Counts like a wrong code: attempts left, the pending sign-in's limit, the account lock.
    return tl::unexpected(login_.record_failure(pending, "webauthn", check.error(), client));
  }
  return login_.complete(pending, *check, client);
}

Result<IssuedSession> SecurityKeys::reauth(const SessionView& s, std::string_view password,
                                           const CredentialResponse& cred, const Client& client) {
  return login_.reauth(
      s, password, [&] { return check_assertion(s, kReauth, cred, client); }, client);
}

// --- Yubico OTP -----------------------------------------------------------------------

namespace {

// Finds the imported key and decrypts the OTP with it. kNotFound for an unknown public id,
// kInvalidArgument "invalid_otp" when the OTP does not decrypt with its key.
Result<DecryptedOtp> decrypt_otp(const Deps& d, const yk::ParsedOtp& otp) {
  TS_ASSIGN_OR_RETURN(store::YubikeyRecord key, d.store.yubikey_by_public_id(otp.public_id));
  TS_ASSIGN_OR_RETURN(core::Secret secret, d.keyring.open(key.secret, yubikey_ad(key.public_id)));
  if (secret.size() != yk::kPrivateIdSize + yk::kAesKeySize) {
    return core::internal("yubikey " + key.public_id + ": sealed secret has the wrong size");
  }
  TS_ASSIGN_OR_RETURN(yk::OtpCounter counter,
                      yk::decrypt_token(otp.token, secret.view().substr(yk::kPrivateIdSize),
                                        secret.view().substr(0, yk::kPrivateIdSize)));
  return DecryptedOtp{std::move(key), counter};
}

// Spends the OTP's counter; false (audited) when it was not larger than every earlier one.
Result<bool> consume_otp(const Deps& d, Audit& audit, const DecryptedOtp& otp, int64_t user_id,
                         const Client& client) {
  const int64_t counter = otp.counter.combined();
  TS_ASSIGN_OR_RETURN(
      bool won, d.store.advance_yubikey_counter(otp.key.public_id, counter, d.clock.unix_now()));
  if (!won) {
    bool replay = counter == otp.key.last_counter;
    audit.record(user_id, replay ? "otp_replayed" : "security_key_counter_regression", client,
                 {{"type", "yubiotp"},
                  {"public_id", otp.key.public_id},
                  {"stored", std::to_string(otp.key.last_counter)},
                  {"received", std::to_string(counter)},
                  {"note", replay ? "replayed one-time password" : "possible cloned key"}});
  }
  return won;
}

}  // namespace

Result<NewMethod> SecurityKeys::register_yubikey(const store::User& user, std::string_view otp,
                                                 std::string_view label, const Client& client) {
  TS_ASSIGN_OR_RETURN(std::string clean, clean_label(label, "YubiKey"));
  TS_ASSIGN_OR_RETURN(yk::ParsedOtp parsed, yk::parse_otp(otp));
  auto decrypted = decrypt_otp(d_, parsed);
  if (!decrypted) {
    audit_.record(
        user.id, "security_key_refused", client,
        {{"type", "yubiotp"}, {"step", "registration"}, {"reason", decrypted.error().reason}});
    if (decrypted.error().code == Code::kNotFound) {
      return fail(Code::kInvalidArgument, "unknown_yubikey",
                  "This YubiKey is not known to this server. Ask your administrator to import it.");
    }
    return tl::unexpected(decrypted.error());
  }
  auto existing = d_.store.method_by_lookup("yubiotp", parsed.public_id);
  if (existing && existing->confirmed) {
    return fail(Code::kAlreadyExists, "already_registered",
                "This YubiKey is already registered to an account.");
  }
  TS_ASSIGN_OR_RETURN(bool fresh, consume_otp(d_, audit_, *decrypted, user.id, client));
  if (!fresh) {
    return fail(Code::kInvalidArgument, "otp_replayed",
                "This one-time password was already used. Touch your YubiKey again.");
  }
  store::Method m;
  m.type = "yubiotp";
  m.label = clean;
  m.lookup = parsed.public_id;
  TS_ASSIGN_OR_RETURN(store::Method stored, create_pending_method(user, std::move(m)));
  NewMethod out;
  out.method_id = stored.id;
  TS_ASSIGN_OR_RETURN(out.recovery_codes, twofa_.activate(user, stored, client));
  return out;
}

Result<CodeCheck> SecurityKeys::check_otp(const store::User& user, std::string_view otp,
                                          std::optional<int64_t> method_id, const Client& client) {
  auto parsed = yk::parse_otp(otp);
  if (!parsed) return tl::unexpected(invalid_code());
  TS_ASSIGN_OR_RETURN(auto methods, twofa_.active_methods(user.id));
  const store::Method* method = nullptr;
  for (const auto& m : methods) {
    if (m.type == "yubiotp" && m.lookup == parsed->public_id &&
        (!method_id || m.id == *method_id)) {
      method = &m;
    }
  }
  if (method == nullptr) {
    auto other = d_.store.method_by_lookup("yubiotp", parsed->public_id);
    if (other && other->user_id != user.id) {
      audit_.record(user.id, "security_key_foreign", client, {{"type", "yubiotp"}});
    }
    return tl::unexpected(invalid_code());
  }
  auto decrypted = decrypt_otp(d_, *parsed);
  if (!decrypted) {
    Code c = decrypted.error().code;
    if (c != Code::kInvalidArgument && c != Code::kNotFound)
      return tl::unexpected(decrypted.error());
    return tl::unexpected(invalid_code());
  }
  TS_ASSIGN_OR_RETURN(bool fresh, consume_otp(d_, audit_, *decrypted, user.id, client));
  if (!fresh) return tl::unexpected(invalid_code());
  TS_RETURN_IF_ERROR(d_.store.touch_method(method->id, d_.clock.unix_now()));
  return CodeCheck{method->id, "yubiotp", -1};
}

Result<int> SecurityKeys::import_yubikeys(std::string_view file_text, bool replace,
                                          const Client& client) {
  TS_ASSIGN_OR_RETURN(auto records, yk::parse_key_file(file_text));
  std::vector<store::YubikeyRecord> keys;
  keys.reserve(records.size());
  for (auto& r : records) {
    store::YubikeyRecord k;
    k.public_id = r.public_id;
    std::string secret = r.private_id + r.aes_key;
    k.secret = d_.keyring.seal(secret, yubikey_ad(r.public_id));
    core::secure_zero(secret.data(), secret.size());
    core::secure_zero(r.aes_key.data(), r.aes_key.size());
    keys.push_back(std::move(k));
  }
  TS_ASSIGN_OR_RETURN(int added, d_.store.import_yubikeys(keys, replace, d_.clock.unix_now()));
  audit_.record(0, "yubikeys_imported", client,
                {{"keys", std::to_string(keys.size())}, {"new", std::to_string(added)}});
  return added;
}

Result<ResealCount> SecurityKeys::reseal_yubikeys() {
  ResealCount n;
  TS_ASSIGN_OR_RETURN(auto keys, d_.store.list_yubikeys());
  for (const auto& k : keys) {
    if (crypto::Keyring::sealed_key_id(k.secret) == d_.keyring.current_id()) continue;
    auto secret = d_.keyring.open(k.secret, yubikey_ad(k.public_id));
    if (!secret) {
      LOG_ERROR("cannot reseal YubiKey public_id=" << k.public_id << ": " << secret.error().detail);
      ++n.failed;
      continue;
    }
    const std::string sealed = d_.keyring.seal(secret->view(), yubikey_ad(k.public_id));
    TS_ASSIGN_OR_RETURN(bool won, d_.store.reseal_yubikey_secret(k.public_id, k.secret, sealed));
    if (won) ++n.resealed;
  }
  return n;
}

Result<std::vector<YubikeyInfo>> SecurityKeys::list_yubikeys() {
  TS_ASSIGN_OR_RETURN(auto keys, d_.store.list_yubikeys());
  std::vector<YubikeyInfo> out;
  for (const auto& k : keys) {
    YubikeyInfo info{k.public_id, k.imported_at, k.last_used_at, {}};
    if (auto m = d_.store.method_by_lookup("yubiotp", k.public_id); m && m->confirmed) {
      if (auto u = d_.store.user_by_id(m->user_id)) info.owner = u->username;
    }
    out.push_back(std::move(info));
  }
  return out;
}

void SecurityKeys::purge_expired() {
  (void)d_.store.delete_expired_webauthn_challenges(d_.clock.unix_now());
}

}  // namespace twostep::services
