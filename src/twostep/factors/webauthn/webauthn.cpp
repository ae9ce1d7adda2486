#include "twostep/factors/webauthn/webauthn.hpp"

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <nlohmann/json.hpp>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/factors/webauthn/cbor_item.hpp"

namespace twostep::factors::webauthn {
using core::Code;

namespace {

tl::unexpected<core::Error> refuse(const char* reason, const char* message, std::string detail) {
  return core::fail(Code::kInvalidArgument, reason, message, std::move(detail));
}
tl::unexpected<core::Error> malformed(std::string detail) {
  return refuse("malformed", "The security key's answer is malformed.", "webauthn: " + detail);
}
tl::unexpected<core::Error> bad_attestation(std::string detail) {
  return refuse("bad_attestation", "The security key's attestation does not verify.",
                "webauthn attestation: " + detail);
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// "scheme://host[:port]" with a lower-case scheme and host and no default port; nullopt when
// `url` has no http(s) scheme or no host. `path_ok` allows a path after the authority.
std::optional<std::pair<std::string, std::string>> origin_and_host(std::string_view url,
                                                                   bool path_ok) {
  std::string scheme;
  if (url.substr(0, 8) == "https://") {
    scheme = "https";
  } else if (url.substr(0, 7) == "http://") {
    scheme = "http";
  } else {
    return std::nullopt;
  }
  std::string_view rest = url.substr(scheme.size() + 3);
  size_t end = rest.find_first_of("/?#");
  if (end != std::string_view::npos) {
    if (!path_ok && !(rest.substr(end) == "/")) return std::nullopt;
    rest = rest.substr(0, end);
  }
  if (rest.empty() || rest.find('@') != std::string_view::npos) return std::nullopt;
  std::string host;
  std::string port;
  if (rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(rest.substr(0, close + 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = std::string(rest.substr(1));
    }
  } else {
    size_t colon = rest.find(':');
    host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = std::string(rest.substr(colon + 1));
  }
  if (host.empty()) return std::nullopt;
  for (char& c : host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if ((scheme == "https" && port == "443") || (scheme == "http" && port == "80")) port.clear();
  std::string origin = scheme + "://" + host + (port.empty() ? "" : ":" + port);
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  return std::make_pair(origin, host);
}

core::Result<ClientData> check_client_data(const RelyingParty& rp, std::string_view json,
                                           const char* type, std::string_view expected_challenge) {
  TS_ASSIGN_OR_RETURN(ClientData cd, parse_client_data(json));
  if (cd.type != type) {
    return refuse("wrong_type", "The security key answered a different request.",
                  "clientData.type " + cd.type);
  }
  if (expected_challenge.size() != kChallengeSize ||
      !crypto::ct_equal(cd.challenge, expected_challenge)) {
    return refuse("challenge_mismatch",
                  "This security key answer is for another or an expired request. Try again.",
                  "clientData.challenge");
  }
  bool origin_ok = false;
  for (const auto& o : rp.origins) origin_ok = origin_ok || o == cd.origin;
  if (!origin_ok || cd.cross_origin) {
    return refuse("wrong_origin", "The security key was used from another site.",
                  "clientData.origin " + cd.origin.substr(0, 200));
  }
  return cd;
}

core::Status check_flags(const RelyingParty& rp, const AuthenticatorData& ad) {
  if (!crypto::ct_equal(ad.rp_id_hash, crypto::sha256(rp.id))) {
    return refuse("wrong_rp", "The security key answered for another site.", "rpIdHash");
  }
  if (!ad.has(kFlagUserPresent)) {
    return refuse("user_not_present", "Touch your security key when it blinks.", "UP flag clear");
  }
  if (rp.require_user_verification && !ad.has(kFlagUserVerified)) {
    return refuse("user_not_verified",
                  "Your security key must verify you (PIN or fingerprint) on this server.",
                  "UV flag clear");
  }
  return core::ok();
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr parse_cert(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x != nullptr && p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    X509_free(x);
    return nullptr;  // trailing bytes after the certificate
  }
  return X509Ptr(x);
}

// §8.2.1: version 3, subject OU "Authenticator Attestation", not a CA, and the
// id-fido-gen-ce-aaguid extension (when present) equal to the authenticator's AAGUID.
core::Status check_packed_cert(X509* cert, const std::string& aaguid) {
  if (X509_get_version(cert) != X509_VERSION_3) return bad_attestation("certificate is not v3");
  X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, -1);
  bool ou_ok = false;
  if (idx >= 0) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    std::string_view ou(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                        static_cast<size_t>(ASN1_STRING_length(s)));
    ou_ok = ou == "Authenticator Attestation";
  }
  if (!ou_ok) return bad_attestation("certificate OU is not \"Authenticator Attestation\"");
  if (X509_check_ca(cert) != 0) return bad_attestation("certificate is a CA");
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1);
  int ext_idx = X509_get_ext_by_OBJ(cert, oid, -1);
  ASN1_OBJECT_free(oid);
  if (ext_idx >= 0) {
    X509_EXTENSION* ext = X509_get_ext(cert, ext_idx);
    if (X509_EXTENSION_get_critical(ext)) return bad_attestation("aaguid extension is critical");
    // The extension value is an OCTET STRING wrapping an OCTET STRING of 16 bytes.
    ASN1_OCTET_STRING* outer = X509_EXTENSION_get_data(ext);
    const unsigned char* p = ASN1_STRING_get0_data(outer);
    ASN1_OCTET_STRING* inner = d2i_ASN1_OCTET_STRING(nullptr, &p, ASN1_STRING_length(outer));
    bool match =
        inner != nullptr && ASN1_STRING_length(inner) == 16 &&
        std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(inner)), 16) == aaguid;
    ASN1_OCTET_STRING_free(inner);
    if (!match) return bad_attestation("aaguid extension does not match authenticator data");
  }
  return core::ok();
}

core::Result<std::string> verify_packed(const AttestationObject& ao, const PublicKey& cred_key,
                                        const std::string& signed_data) {
  if (!ao.alg || !ao.sig) return bad_attestation("packed needs alg and sig");
  if (ao.x5c.empty()) {
    // Self attestation: the credential key signs, with its own algorithm.
    if (*ao.alg != cred_key.alg()) return bad_attestation("self attestation alg differs from key");
    if (!cred_key.verify(signed_data, *ao.sig)) return bad_attestation("self signature");
    return std::string("self");
  }
  if (!supported_alg(static_cast<int>(*ao.alg))) {
    return refuse("unsupported_algorithm", "The attestation uses an unsupported algorithm.",
                  "packed alg " + std::to_string(*ao.alg));
  }
  X509Ptr leaf = parse_cert(ao.x5c.front());
  if (!leaf) return bad_attestation("x5c[0] is not a certificate");
  if (!verify_with_key(X509_get0_pubkey(leaf.get()), static_cast<int>(*ao.alg), signed_data,
                       *ao.sig)) {
    return bad_attestation("x5c signature");
  }
  TS_RETURN_IF_ERROR(check_packed_cert(leaf.get(), ao.auth_data.aaguid));
  return std::string("basic");
}

core::Result<std::string> verify_fido_u2f(const AttestationObject& ao, const PublicKey& cred_key,
                                          const std::string& client_data_hash) {
  if (!ao.sig || ao.x5c.size() != 1 || ao.alg)
    return bad_attestation("fido-u2f needs sig and one x5c");
  X509Ptr cert = parse_cert(ao.x5c.front());
  if (!cert) return bad_attestation("x5c[0] is not a certificate");
  EVP_PKEY* cert_key = X509_get0_pubkey(cert.get());
  if (cert_key == nullptr || EVP_PKEY_get_base_id(cert_key) != EVP_PKEY_EC ||
      EVP_PKEY_get_bits(cert_key) != 256) {
    return bad_attestation("fido-u2f certificate key is not P-256");
  }
  if (cred_key.alg() != kEs256 || cred_key.ec_point().size() != 65) {
    return bad_attestation("fido-u2f credential key is not P-256");
  }
  const AuthenticatorData& ad = ao.auth_data;
  std::string verification = std::string(1, '\0') + ad.rp_id_hash + client_data_hash +
                             ad.credential_id + cred_key.ec_point();
  if (!verify_with_key(cert_key, kEs256, verification, *ao.sig))
    return bad_attestation("u2f signature");
  return std::string("basic");
}

}  // namespace

core::Result<RelyingParty> relying_party(std::string_view public_url,
                                         const std::vector<std::string>& extra_origins,
                                         bool require_user_verification) {
  auto base = origin_and_host(public_url, /*path_ok=*/true);
  if (!base) {
    return core::fail(Code::kInvalidArgument, "invalid_config",
                      "server.public_url: WebAuthn needs an http(s) URL with a host");
  }
  RelyingParty rp;
  rp.id = base->second;
  rp.origins.push_back(base->first);
  for (const auto& o : extra_origins) {
    auto parsed = origin_and_host(o, /*path_ok=*/false);
    if (!parsed) {
      return core::fail(Code::kInvalidArgument, "invalid_config",
                        "webauthn.origins: '" + o + "' is not an origin like https://host[:port]");
    }
    rp.origins.push_back(parsed->first);
  }
  rp.require_user_verification = require_user_verification;
  return rp;
}

core::Result<AuthenticatorData> parse_authenticator_data(std::string_view data) {
  if (data.size() < 37) return malformed("authenticator data shorter than 37 bytes");
  if (data.size() > kMaxAuthenticatorData) return malformed("authenticator data too large");
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  AuthenticatorData ad;
  ad.rp_id_hash = std::string(data.substr(0, 32));
  ad.flags = p[32];
  ad.sign_count = be32(p + 33);
  size_t pos = 37;
  if (ad.has(kFlagAttestedData)) {
    if (data.size() < pos + 18) return malformed("attested credential data truncated");
    ad.aaguid = std::string(data.substr(pos, 16));
    size_t id_len = (size_t{p[pos + 16]} << 8) | p[pos + 17];
    pos += 18;
    if (id_len == 0 || id_len > kMaxCredentialId) return malformed("credential id length");
    if (data.size() < pos + id_len) return malformed("credential id truncated");
    ad.credential_id = std::string(data.substr(pos, id_len));
    pos += id_len;
    size_t used = 0;
    cbor::Item key = cbor::load(data.substr(pos), &used);
    if (!key || !cbor::is_definite_map(key.get())) return malformed("credential public key");
    ad.credential_public_key = std::string(data.substr(pos, used));
    pos += used;
  }
  if (ad.has(kFlagExtensions)) {
    size_t used = 0;
    cbor::Item ext = cbor::load(data.substr(pos), &used);
    if (!ext || !cbor::is_definite_map(ext.get())) return malformed("extensions");
    pos += used;
  }
  if (pos != data.size()) return malformed("trailing bytes after authenticator data");
  return ad;
}

core::Result<ClientData> parse_client_data(std::string_view json) {
  if (json.empty() || json.size() > kMaxClientDataJson) return malformed("clientDataJSON size");
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return malformed("clientDataJSON is not a JSON object");
  auto str = [&](const char* name) -> const std::string* {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return nullptr;
    return &it->get_ref<const std::string&>();
  };
  const std::string* type = str("type");
  const std::string* challenge = str("challenge");
  const std::string* origin = str("origin");
  if (type == nullptr || challenge == nullptr || origin == nullptr) {
    return malformed("clientDataJSON needs type, challenge and origin strings");
  }
  auto decoded = crypto::base64url_decode(*challenge);
  if (!decoded) return malformed("clientDataJSON.challenge is not base64url");
  ClientData cd;
  cd.type = *type;
  cd.challenge = std::move(*decoded);
  cd.origin = *origin;
  if (auto it = j.find("crossOrigin"); it != j.end()) {
    if (!it->is_boolean()) return malformed("clientDataJSON.crossOrigin is not a boolean");
    cd.cross_origin = it->get<bool>();
  }
  return cd;
}

core::Result<AttestationObject> parse_attestation_object(std::string_view data) {
  if (data.size() > kMaxAttestationObject) return malformed("attestation object too large");
  cbor::Item item = cbor::load_exact(data);
  if (!item || !cbor::is_definite_map(item.get()))
    return malformed("attestation object is not a map");
  bool dup = false;
  auto fmt = cbor::text(cbor::by_text(item.get(), "fmt", &dup));
  auto auth_data = cbor::bytes(cbor::by_text(item.get(), "authData", &dup));
  const cbor_item_t* stmt = cbor::by_text(item.get(), "attStmt", &dup);
  if (dup) return malformed("attestation object repeats a key");
  if (!fmt || !auth_data || !cbor::is_definite_map(stmt)) {
    return malformed("attestation object needs fmt, authData and attStmt");
  }
  AttestationObject ao;
  ao.fmt = *fmt;
  if (ao.fmt != "none" && ao.fmt != "packed" && ao.fmt != "fido-u2f") {
    return refuse("unsupported_attestation",
                  "This security key's attestation format is not supported.",
                  "fmt " + ao.fmt.substr(0, 64));
  }
  ao.auth_data_raw = std::move(*auth_data);
  TS_ASSIGN_OR_RETURN(ao.auth_data, parse_authenticator_data(ao.auth_data_raw));
  ao.stmt_empty = cbor_map_size(stmt) == 0;
  if (const cbor_item_t* alg = cbor::by_text(stmt, "alg", &dup)) {
    ao.alg = cbor::integer(alg);
    if (!ao.alg) return malformed("attStmt.alg");
  }
  if (const cbor_item_t* sig = cbor::by_text(stmt, "sig", &dup)) {
    ao.sig = cbor::bytes(sig);
    if (!ao.sig || ao.sig->empty() || ao.sig->size() > kMaxSignature)
      return malformed("attStmt.sig");
  }
  if (const cbor_item_t* x5c = cbor::by_text(stmt, "x5c", &dup)) {
    if (!cbor_isa_array(x5c) || !cbor_array_is_definite(x5c) || cbor_array_size(x5c) == 0) {
      return malformed("attStmt.x5c");
    }
    cbor_item_t** certs = cbor_array_handle(x5c);
    for (size_t i = 0; i < cbor_array_size(x5c); ++i) {
      auto der = cbor::bytes(certs[i]);
      if (!der || der->empty()) return malformed("attStmt.x5c entry");
      ao.x5c.push_back(std::move(*der));
    }
  }
  if (dup) return malformed("attStmt repeats a key");
  return ao;
}

core::Result<Registration> verify_registration(const RelyingParty& rp,
                                               std::string_view expected_challenge,
                                               std::string_view client_data_json,
                                               std::string_view attestation_object) {
  TS_RETURN_IF_ERROR(
      check_client_data(rp, client_data_json, "webauthn.create", expected_challenge));
  TS_ASSIGN_OR_RETURN(AttestationObject ao, parse_attestation_object(attestation_object));
  const AuthenticatorData& ad = ao.auth_data;
  TS_RETURN_IF_ERROR(check_flags(rp, ad));
  if (!ad.has(kFlagAttestedData)) return malformed("registration without attested credential data");
  TS_ASSIGN_OR_RETURN(PublicKey key, parse_cose_key(ad.credential_public_key));

  const std::string client_data_hash = crypto::sha256(client_data_json);
  const std::string signed_data = ao.auth_data_raw + client_data_hash;
  Registration r;
  if (ao.fmt == "none") {
    if (!ao.stmt_empty) return bad_attestation("fmt none with a statement");
    r.attestation_type = "none";
  } else if (ao.fmt == "packed") {
    TS_ASSIGN_OR_RETURN(r.attestation_type, verify_packed(ao, key, signed_data));
  } else {
    TS_ASSIGN_OR_RETURN(r.attestation_type, verify_fido_u2f(ao, key, client_data_hash));
  }
  r.credential_id = ad.credential_id;
  r.public_key_cose = ad.credential_public_key;
  r.alg = key.alg();
  r.sign_count = ad.sign_count;
  r.aaguid = ad.aaguid;
  r.fmt = ao.fmt;
  r.user_verified = ad.has(kFlagUserVerified);
  r.backup_eligible = ad.has(kFlagBackupEligible);
  return r;
}

core::Result<Assertion> verify_assertion(const RelyingParty& rp,
                                         std::string_view expected_challenge,
                                         std::string_view client_data_json,
                                         std::string_view authenticator_data,
                                         std::string_view signature,
                                         std::string_view public_key_cose) {
  if (signature.empty() || signature.size() > kMaxSignature) return malformed("signature size");
  TS_RETURN_IF_ERROR(check_client_data(rp, client_data_json, "webauthn.get", expected_challenge));
  TS_ASSIGN_OR_RETURN(AuthenticatorData ad, parse_authenticator_data(authenticator_data));
  TS_RETURN_IF_ERROR(check_flags(rp, ad));
  TS_ASSIGN_OR_RETURN(PublicKey key, parse_cose_key(public_key_cose));
  std::string signed_data = std::string(authenticator_data) + crypto::sha256(client_data_json);
  if (!key.verify(signed_data, signature)) {
    return refuse("bad_signature", "The security key's signature does not verify.",
                  "assertion signature");
  }
  return Assertion{ad.sign_count, ad.has(kFlagUserVerified)};
}

}  // namespace twostep::factors::webauthn
