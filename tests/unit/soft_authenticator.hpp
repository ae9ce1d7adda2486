// A software WebAuthn authenticator for tests: real OpenSSL keys (ES256, RS256, EdDSA), COSE
// keys, authenticator data, attestation objects ("none", "packed" self and x5c, "fido-u2f")
// and assertions, built with libcbor exactly as a CTAP2 authenticator and a browser would.
// Every field can be bent so that tests can reach each failure path.
#pragma once

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/factors/webauthn/webauthn.hpp"

namespace twostep::testing {

namespace wa = factors::webauthn;

struct CborOwner {
  cbor_item_t* item;
  explicit CborOwner(cbor_item_t* i) : item(i) {}
  ~CborOwner() {
    if (item != nullptr) cbor_decref(&item);
  }
  CborOwner(const CborOwner&) = delete;
  CborOwner& operator=(const CborOwner&) = delete;
  std::string bytes() const {
    unsigned char* buf = nullptr;
    size_t size = 0;
    size_t len = cbor_serialize_alloc(item, &buf, &size);
    std::string out(reinterpret_cast<char*>(buf), len);
    free(buf);
    return out;
  }
};

inline cbor_item_t* cbor_int(int64_t v) {
  return v >= 0 ? cbor_build_uint64(static_cast<uint64_t>(v))
                : cbor_build_negint64(static_cast<uint64_t>(-1 - v));
}
inline cbor_item_t* cbor_bytes(const std::string& s) {
  return cbor_build_bytestring(reinterpret_cast<cbor_data>(s.data()), s.size());
}
inline void map_put(cbor_item_t* map, cbor_item_t* k, cbor_item_t* v) {
  cbor_map_add(map, cbor_pair{cbor_move(k), cbor_move(v)});
}

inline std::string be16(size_t v) {
  return std::string{static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}
inline std::string be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
                     static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

struct PkeyDel {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDel>;
struct X509Del {
  void operator()(X509* x) const { X509_free(x); }
};

inline std::string bn_bytes(const EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error("get_bn_param");
  std::string out(BN_num_bytes(bn), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// A key pair with its COSE form; sign() produces what the authenticator would send.
class TestKey {
 public:
  explicit TestKey(int alg) : alg_(alg) {
    EVP_PKEY* k = nullptr;
    if (alg == wa::kEs256) {
      k = EVP_EC_gen("P-256");
    } else if (alg == wa::kRs256) {
      k = EVP_RSA_gen(2048);
    } else if (alg == wa::kEdDsa) {
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    }
    if (k == nullptr) throw std::runtime_error("keygen");
    key_.reset(k);
  }

  int alg() const { return alg_; }
  EVP_PKEY* pkey() const { return key_.get(); }

  // The uncompressed EC point (ES256 keys only).
  std::string ec_point() const {
    unsigned char buf[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len);
    return std::string(reinterpret_cast<char*>(buf), len);
  }

  // COSE_Key; `alg_override` writes another alg label (to test mismatches).
  std::string cose(std::optional<int64_t> alg_override = std::nullopt) const {
    CborOwner map(cbor_new_definite_map(5));
    int64_t alg = alg_override.value_or(alg_);
    if (alg_ == wa::kEs256) {
      std::string p = ec_point();
      map_put(map.item, cbor_int(1), cbor_int(2));
      map_put(map.item, cbor_int(3), cbor_int(alg));
      map_put(map.item, cbor_int(-1), cbor_int(1));
      map_put(map.item, cbor_int(-2), cbor_bytes(p.substr(1, 32)));
      map_put(map.item, cbor_int(-3), cbor_bytes(p.substr(33, 32)));
    } else if (alg_ == wa::kRs256) {
      map_put(map.item, cbor_int(1), cbor_int(3));
      map_put(map.item, cbor_int(3), cbor_int(alg));
      map_put(map.item, cbor_int(-1), cbor_bytes(bn_bytes(key_.get(), OSSL_PKEY_PARAM_RSA_N)));
      map_put(map.item, cbor_int(-2), cbor_bytes(bn_bytes(key_.get(), OSSL_PKEY_PARAM_RSA_E)));
    } else {
      unsigned char raw[32];
      size_t len = sizeof raw;
      EVP_PKEY_get_raw_public_key(key_.get(), raw, &len);
      map_put(map.item, cbor_int(1), cbor_int(1));
      map_put(map.item, cbor_int(3), cbor_int(alg));
      map_put(map.item, cbor_int(-1), cbor_int(6));
      map_put(map.item, cbor_int(-2), cbor_bytes(std::string(reinterpret_cast<char*>(raw), len)));
    }
    return map.bytes();
  }

  std::string sign(const std::string& data) const { return sign_with(key_.get(), alg_, data); }

  static std::string sign_with(EVP_PKEY* key, int alg, const std::string& data) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    const char* md = alg == wa::kEdDsa ? nullptr : "SHA256";
    if (EVP_DigestSignInit_ex(ctx, &pctx, md, nullptr, nullptr, key, nullptr) != 1) {
      throw std::runtime_error("DigestSignInit");
    }
    if (alg == wa::kRs256) EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING);
    size_t len = 0;
    auto* in = reinterpret_cast<const unsigned char*>(data.data());
    EVP_DigestSign(ctx, nullptr, &len, in, data.size());
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, data.size()) !=
        1) {
      throw std::runtime_error("DigestSign");
    }
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
  }

 private:
  int alg_;
  Pkey key_;
};

// A DER certificate for `subject_key`, signed by `issuer_key` (self-signed when the same).
inline std::string make_cert(EVP_PKEY* subject_key, EVP_PKEY* issuer_key, const std::string& ou,
                             bool ca = false, const std::string& aaguid_ext = "") {
  std::unique_ptr<X509, X509Del> x(X509_new());
  X509_set_version(x.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600L * 24 * 365);
  X509_set_pubkey(x.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("CH"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Test Vendor"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(ou.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Test Key"), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x.get(), x.get(), nullptr, nullptr, 0);
  X509_EXTENSION* bc = X509V3_EXT_conf_nid(nullptr, &v3, NID_basic_constraints,
                                           ca ? "critical,CA:TRUE" : "CA:FALSE");
  X509_add_ext(x.get(), bc, -1);
  X509_EXTENSION_free(bc);
  if (!aaguid_ext.empty()) {
    // OCTET STRING { OCTET STRING aaguid }
    ASN1_OCTET_STRING* inner = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(inner, reinterpret_cast<const unsigned char*>(aaguid_ext.data()),
                          static_cast<int>(aaguid_ext.size()));
    unsigned char* der = nullptr;
    int der_len = i2d_ASN1_OCTET_STRING(inner, &der);
    ASN1_OCTET_STRING* outer = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(outer, der, der_len);
    ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1);
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 0, outer);
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(outer);
    ASN1_OCTET_STRING_free(inner);
    OPENSSL_free(der);
  }
  X509_sign(x.get(), issuer_key,
            EVP_PKEY_get_base_id(issuer_key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256());
  unsigned char* der = nullptr;
  int len = i2d_X509(x.get(), &der);
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

inline const std::string kRpId = "localhost";
inline const std::string kOrigin = "http://localhost:8080";

// What a registration or assertion needs, with every field adjustable by the test.
struct CeremonyOptions {
  std::string type;  // clientData.type; empty = the right one
  std::string origin = kOrigin;
  std::string rp_id = kRpId;
  uint8_t flags = wa::kFlagUserPresent | wa::kFlagUserVerified;
  uint32_t sign_count = 0;
  bool cross_origin = false;
};

inline std::string client_data_json(const std::string& type, const std::string& challenge,
                                    const CeremonyOptions& o) {
  return std::string("{\"type\":\"") + type + "\",\"challenge\":\"" +
         crypto::base64url_encode(challenge) + "\",\"origin\":\"" + o.origin +
         "\",\"crossOrigin\":" + (o.cross_origin ? "true" : "false") + "}";
}

struct RegistrationResponse {
  std::string client_data_json;
  std::string attestation_object;
  std::string credential_id;
};

struct Assertion {
  std::string client_data_json;
  std::string authenticator_data;
  std::string signature;
};

// One credential on a software authenticator.
class SoftCredential {
 public:
  explicit SoftCredential(int alg = wa::kEs256)
      : key_(alg), id_(crypto::random_bytes(32)), aaguid_(crypto::random_bytes(16)) {}

  const TestKey& key() const { return key_; }
  const std::string& id() const { return id_; }
  const std::string& aaguid() const { return aaguid_; }
  uint32_t counter = 0;  // the next sign count to report (0 = no counter)

  std::string auth_data(const CeremonyOptions& o, bool attested,
                        const std::string& cose = {}) const {
    std::string ad =
        crypto::sha256(o.rp_id) +
        std::string(1, static_cast<char>(o.flags | (attested ? wa::kFlagAttestedData : 0))) +
        be32(o.sign_count);
    if (attested) ad += aaguid_ + be16(id_.size()) + id_ + (cose.empty() ? key_.cose() : cose);
    return ad;
  }

  // fmt: "none", "packed-self", "packed-x5c", "fido-u2f".
  RegistrationResponse register_with(const std::string& challenge, const std::string& fmt = "none",
                                     const CeremonyOptions& o = {}) const {
    RegistrationResponse r;
    r.credential_id = id_;
    r.client_data_json =
        client_data_json(o.type.empty() ? "webauthn.create" : o.type, challenge, o);
    std::string ad = auth_data(o, true);
    std::string cdh = crypto::sha256(r.client_data_json);
    CborOwner stmt(cbor_new_definite_map(3));
    std::string f = fmt;
    if (fmt == "packed-self") {
      f = "packed";
      map_put(stmt.item, cbor_build_string("alg"), cbor_int(key_.alg()));
      map_put(stmt.item, cbor_build_string("sig"), cbor_bytes(key_.sign(ad + cdh)));
    } else if (fmt == "packed-x5c") {
      f = "packed";
      TestKey att(wa::kEs256);
      std::string cert =
          make_cert(att.pkey(), att.pkey(), "Authenticator Attestation", false, aaguid_);
      map_put(stmt.item, cbor_build_string("alg"), cbor_int(wa::kEs256));
      map_put(stmt.item, cbor_build_string("sig"), cbor_bytes(att.sign(ad + cdh)));
      cbor_item_t* arr = cbor_new_definite_array(1);
      cbor_array_push(arr, cbor_move(cbor_bytes(cert)));
      map_put(stmt.item, cbor_build_string("x5c"), arr);
    } else if (fmt == "fido-u2f") {
      TestKey att(wa::kEs256);
      std::string cert = make_cert(att.pkey(), att.pkey(), "Authenticator Attestation");
      std::string data =
          std::string(1, '\0') + crypto::sha256(o.rp_id) + cdh + id_ + key_.ec_point();
      map_put(stmt.item, cbor_build_string("sig"), cbor_bytes(att.sign(data)));
      cbor_item_t* arr = cbor_new_definite_array(1);
      cbor_array_push(arr, cbor_move(cbor_bytes(cert)));
      map_put(stmt.item, cbor_build_string("x5c"), arr);
    }
    r.attestation_object = attestation_object(f, ad, stmt.item);
    return r;
  }

  static std::string attestation_object(const std::string& fmt, const std::string& auth_data,
                                        cbor_item_t* stmt) {
    CborOwner obj(cbor_new_definite_map(3));
    map_put(obj.item, cbor_build_string("fmt"), cbor_build_string(fmt.c_str()));
    map_put(obj.item, cbor_build_string("attStmt"), cbor_incref(stmt));
    map_put(obj.item, cbor_build_string("authData"), cbor_bytes(auth_data));
    return obj.bytes();
  }

  Assertion assert_with(const std::string& challenge, CeremonyOptions o = {}) {
    if (counter > 0 && o.sign_count == 0) o.sign_count = counter++;
    Assertion a;
    a.client_data_json = client_data_json(o.type.empty() ? "webauthn.get" : o.type, challenge, o);
    a.authenticator_data = auth_data(o, false);
    a.signature = key_.sign(a.authenticator_data + crypto::sha256(a.client_data_json));
    return a;
  }

 private:
  TestKey key_;
  std::string id_;
  std::string aaguid_;
};

}  // namespace twostep::testing
