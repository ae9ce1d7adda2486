// Security keys: WebAuthn options and credentials (enrolment on a full session, the second
// sign-in step on a pending one) and Yubico OTP enrolment. Yubico OTP sign-in goes through
// POST /api/v1/login/second-factor {type:"yubiotp"} (the two-factor service's dispatch).
#include "twostep/api/area.hpp"
#include "twostep/api/routes.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/services/security_keys.hpp"

namespace twostep::api {
namespace {

namespace wa = factors::webauthn;
using services::CredentialDescriptor;
using services::CredentialResponse;

// Base64url sizes of the WebAuthn fields' byte limits.
constexpr size_t b64len(size_t bytes) { return (bytes * 4 + 2) / 3; }

// get_string for a field of a nested object: the message names the whole path.
core::Result<std::string> nested_string(const json& obj, const std::string& where, const char* name,
                                        size_t max_len, bool required) {
  auto s = get_string(obj, name, max_len, required);
  if (!s) {
    core::Error e = s.error();
    e.message = where + e.message;
    return tl::unexpected(std::move(e));
  }
  return s;
}

core::Result<std::string> b64_field(const json& obj, const std::string& where, const char* name,
                                    size_t max_bytes, bool required) {
  TS_ASSIGN_OR_RETURN(std::string text,
                      nested_string(obj, where, name, b64len(max_bytes), required));
  auto bytes = crypto::base64url_decode(text);
  if (!bytes) {
    return core::fail(Code::kInvalidArgument, "invalid_request",
                      where + name + ": expected base64url.");
  }
  return std::move(*bytes);
}

// The PublicKeyCredential a browser returns, as the JSON that web/lib/webauthn.js (and
// PublicKeyCredential.toJSON()) writes: {id, rawId, type, response:{...}}.
core::Result<CredentialResponse> parse_credential(const json& body, bool registration) {
  auto it = body.find("credential");
  if (it == body.end() || it->is_null()) {
    return core::fail(Code::kInvalidArgument, "invalid_request", "credential: required.");
  }
  if (!it->is_object()) {
    return core::fail(Code::kInvalidArgument, "invalid_request", "credential: expected an object.");
  }
  const json& cred = *it;
  TS_ASSIGN_OR_RETURN(std::string type, nested_string(cred, "credential.", "type", 32, true));
  if (type != "public-key") {
    return core::fail(Code::kInvalidArgument, "invalid_request",
                      "credential.type: expected \"public-key\".");
  }
  CredentialResponse out;
  TS_ASSIGN_OR_RETURN(out.raw_id,
                      b64_field(cred, "credential.", "rawId", wa::kMaxCredentialId, false));
  TS_ASSIGN_OR_RETURN(std::string id,
                      b64_field(cred, "credential.", "id", wa::kMaxCredentialId, true));
  if (out.raw_id.empty()) out.raw_id = id;
  if (id.empty() || id != out.raw_id) {
    return core::fail(Code::kInvalidArgument, "invalid_request",
                      "credential.id: must be the base64url of rawId.");
  }
  auto r = cred.find("response");
  if (r == cred.end() || !r->is_object()) {
    return core::fail(Code::kInvalidArgument, "invalid_request",
                      "credential.response: expected an object.");
  }
  const std::string where = "credential.response.";
  TS_ASSIGN_OR_RETURN(out.client_data_json,
                      b64_field(*r, where, "clientDataJSON", wa::kMaxClientDataJson, true));
  if (registration) {
    TS_ASSIGN_OR_RETURN(out.attestation_object,
                        b64_field(*r, where, "attestationObject", wa::kMaxAttestationObject, true));
    if (auto t = r->find("transports"); t != r->end() && !t->is_null()) {
      if (!t->is_array() || t->size() > 8) {
        return core::fail(Code::kInvalidArgument, "invalid_request",
                          where + "transports: expected an array of at most 8 strings.");
      }
      for (const auto& v : *t) {
        if (!v.is_string() || v.get_ref<const std::string&>().size() > 32) {
          return core::fail(Code::kInvalidArgument, "invalid_request",
                            where + "transports: expected short strings.");
        }
        out.transports.push_back(v.get<std::string>());
      }
    }
  } else {
    TS_ASSIGN_OR_RETURN(out.authenticator_data,
                        b64_field(*r, where, "authenticatorData", wa::kMaxAuthenticatorData, true));
    TS_ASSIGN_OR_RETURN(out.signature, b64_field(*r, where, "signature", wa::kMaxSignature, true));
    TS_ASSIGN_OR_RETURN(out.user_handle, b64_field(*r, where, "userHandle", 64, false));
  }
  return out;
}

json descriptors(const std::vector<CredentialDescriptor>& creds) {
  json arr = json::array();
  for (const auto& c : creds) {
    json d{{"type", "public-key"}, {"id", crypto::base64url_encode(c.id)}};
    if (!c.transports.empty()) d["transports"] = c.transports;
    arr.push_back(std::move(d));
  }
  return arr;
}

class SecurityKeyRoutes final : public Area {
 public:
  using Area::Area;
  void add(http::Router& r) override {
    r.add("POST", "/api/v1/methods/webauthn/options",
          bind(this, &SecurityKeyRoutes::creation_options));
    r.add("POST", "/api/v1/methods/webauthn", bind(this, &SecurityKeyRoutes::register_key));
    r.add("POST", "/api/v1/methods/yubiotp", bind(this, &SecurityKeyRoutes::register_yubikey));
    r.add("POST", "/api/v1/login/webauthn/options",
          bind(this, &SecurityKeyRoutes::request_options));
    r.add("POST", "/api/v1/login/webauthn", bind(this, &SecurityKeyRoutes::login));
    r.add("POST", "/api/v1/reauth/webauthn/options",
          bind(this, &SecurityKeyRoutes::reauth_options));
    r.add("POST", "/api/v1/reauth/webauthn", bind(this, &SecurityKeyRoutes::reauth));
  }

 private:
  services::SecurityKeys& keys() { return s_.security_keys; }

  Awaitable creation_options(Request& req) {
    auto body = parse_object(req, true);
    if (!body) co_return error_response(body.error());
    // A session restricted by an organisation's 2FA policy may enrol its first method here.
    auto [auth, err] = co_await authenticate(req, Need::kEnrollment);
    if (!auth) co_return err;
    auto [o, err2] = co_await on_db([&] { return keys().registration_options(auth->view); });
    if (!o) co_return err2;
    json params = json::array();
    for (int alg : o->algorithms) params.push_back(json{{"type", "public-key"}, {"alg", alg}});
    co_return json_response(200, json{{"rp", {{"id", o->rp_id}, {"name", o->rp_name}}},
                                      {"user",
                                       {{"id", crypto::base64url_encode(o->user_handle)},
                                        {"name", o->user_name},
                                        {"displayName", o->user_name}}},
                                      {"challenge", crypto::base64url_encode(o->challenge)},
                                      {"pubKeyCredParams", params},
                                      {"timeout", o->timeout_ms},
                                      {"excludeCredentials", descriptors(o->exclude)},
                                      {"authenticatorSelection",
                                       {{"residentKey", "discouraged"},
                                        {"requireResidentKey", false},
                                        {"userVerification", o->user_verification}}},
                                      {"attestation", o->attestation}});
  }

  // Enrolment where the request itself proves possession of the key: `parse` reads the
  // factor's fields from the body, `enrol(view, input, label, client)` runs on the db pool and
  // returns the new method with a fresh set of recovery codes. Sessions restricted by an
  // organisation's 2FA policy may enrol (and become full sessions), like TOTP confirmation.
  template <class Parse, class Enrol>
  Awaitable enrol_method(Request& req, Parse parse, Enrol enrol) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto input = parse(*body);
    if (!input) co_return error_response(input.error());
    auto label = get_string(*body, "label", 256, false);
    if (!label) co_return error_response(label.error());
    auto [auth, err] = co_await authenticate(req, Need::kEnrollment);
    if (!auth) co_return err;
    Client c = client(req);
    struct Enrolled {
      services::NewMethod method;
      std::optional<IssuedSession> upgraded;
    };
    auto [done, err2] = co_await on_db([&]() -> core::Result<Enrolled> {
      Enrolled out;
      TS_ASSIGN_OR_RETURN(out.method, enrol(auth->view, *input, *label, c));
      // The first method of a session restricted by an organisation's policy: it becomes a
      // full session, with a new token.
      if (auth->view.session.state == SessionState::kEnrollmentRequired) {
        TS_ASSIGN_OR_RETURN(out.upgraded, s_.orgs.complete_enrollment(auth->view, c));
      }
      return out;
    });
    if (!done) co_return err2;
    auto r = json_response(201, json{{"method_id", done->method.method_id},
                                     {"recovery_codes", done->method.recovery_codes}});
    if (done->upgraded) set_session_cookies(r, *done->upgraded, req);
    co_return r;
  }

  Awaitable register_key(Request& req) {
    return enrol_method(
        req, [](const json& body) { return parse_credential(body, /*registration=*/true); },
        [this](const SessionView& v, const CredentialResponse& cred, const std::string& label,
               const Client& c) { return keys().register_key(v, cred, label, c); });
  }

  Awaitable register_yubikey(Request& req) {
    return enrol_method(
        req, [](const json& body) { return get_string(body, "otp", kMaxCode); },
        [this](const SessionView& v, const std::string& otp, const std::string& label,
               const Client& c) { return keys().register_yubikey(v.user, otp, label, c); });
  }

  // PublicKeyCredentialRequestOptions for the second sign-in step (pending session) or for
  // re-authentication (full session).
  Awaitable request_options(Request& req) { return assertion_options(req, Need::kPending); }
  Awaitable reauth_options(Request& req) { return assertion_options(req, Need::kFull); }

  Awaitable assertion_options(Request& req, Need need) {
    auto body = parse_object(req, true);
    if (!body) co_return error_response(body.error());
    auto [auth, err] = co_await authenticate(req, need);
    if (!auth) co_return err;
    auto [o, err2] = co_await on_db([&] {
      return need == Need::kPending ? keys().login_options(auth->view)
                                    : keys().reauth_options(auth->view);
    });
    if (!o) co_return err2;
    co_return json_response(200, json{{"challenge", crypto::base64url_encode(o->challenge)},
                                      {"rpId", o->rp_id},
                                      {"allowCredentials", descriptors(o->allow)},
                                      {"userVerification", o->user_verification},
                                      {"timeout", o->timeout_ms}});
  }

  Awaitable login(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto cred = parse_credential(*body, /*registration=*/false);
    if (!cred) co_return error_response(cred.error());
    auto [auth, err] = co_await authenticate(req, Need::kPending);
    if (!auth) co_return err;
    Client c = client(req);
    auto [done, err2] = co_await on_db([&] { return keys().login(auth->view, *cred, c); });
    if (!done) {
      // Too many failures ended the pending sign-in: tell the browser.
      if (err2.status == 401 && err2.body.find("not_authenticated") != std::string::npos) {
        clear_session_cookie(err2);
      }
      co_return err2;
    }
    auto r = json_response(200, json{{"status", "ok"}, {"user", user_json(done->user)}});
    set_session_cookies(r, done->session, req);
    co_return r;
  }

  // Password + security key: the answer to /reauth/webauthn/options. Same reply as
  // POST /api/v1/reauth.
  Awaitable reauth(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto password = get_string(*body, "password", kMaxPassword);
    if (!password) co_return error_response(password.error());
    auto cred = parse_credential(*body, /*registration=*/false);
    if (!cred) co_return error_response(cred.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    Client c = client(req);
    auto [issued, err2] =
        co_await on_hash([&] { return keys().reauth(auth->view, *password, *cred, c); });
    if (!issued) co_return err2;
    auto r = json_response(
        200,
        json{{"status", "ok"}, {"until", issued->session.auth_at + cfg_.sessions.reauth_window_s}});
    set_session_cookies(r, *issued, req);
    co_return r;
  }
};

}  // namespace

std::unique_ptr<Area> make_security_key_routes(ApiContext& ctx) {
  return std::make_unique<SecurityKeyRoutes>(ctx);
}

}  // namespace twostep::api
