#include "twostep/factors/webauthn/cose.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "twostep/factors/webauthn/cbor_item.hpp"

namespace twostep::factors::webauthn {
using core::Code;

namespace {

// COSE key parameters (RFC 8152 §7.1, §13.1, §13.2; RFC 8230 for RSA).
constexpr int64_t kKty = 1;
constexpr int64_t kAlg = 3;
constexpr int64_t kCrvOrN = -1;  // EC2/OKP: crv; RSA: n
constexpr int64_t kXOrE = -2;    // EC2/OKP: x; RSA: e
constexpr int64_t kY = -3;
constexpr int64_t kKtyOkp = 1;
constexpr int64_t kKtyEc2 = 2;
constexpr int64_t kKtyRsa = 3;
constexpr int64_t kCrvP256 = 1;
constexpr int64_t kCrvEd25519 = 6;

tl::unexpected<core::Error> malformed(const std::string& what) {
  return core::fail(Code::kInvalidArgument, "malformed",
                    "The security key's public key is malformed.", "cose: " + what);
}

tl::unexpected<core::Error> unsupported(int64_t alg) {
  return core::fail(Code::kInvalidArgument, "unsupported_algorithm",
                    "This security key uses an algorithm that is not supported.",
                    "cose alg " + std::to_string(alg));
}

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Builds a public key of `type` ("EC", "RSA") from OSSL parameters; nullptr on failure.
std::unique_ptr<EVP_PKEY, PkeyFree> from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) return nullptr;
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) return nullptr;
  return std::unique_ptr<EVP_PKEY, PkeyFree>(key);
}

// EVP_PKEY_fromdata does not check that an EC point lies on the curve. The quick check
// (on the curve, not infinity) is the whole check for P-256, whose cofactor is 1; the full one
// adds a scalar multiplication by the order, as costly as the signature check itself.
bool public_check(EVP_PKEY* key) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  return ctx && EVP_PKEY_public_check_quick(ctx.get()) == 1;
}

core::Result<PublicKey> ec2_key(const cbor_item_t* map, int64_t alg) {
  if (alg != kEs256) return unsupported(alg);
  auto crv = cbor::integer(cbor::by_int(map, kCrvOrN));
  if (!crv || *crv != kCrvP256) return malformed("ES256 needs curve P-256");
  auto x = cbor::bytes(cbor::by_int(map, kXOrE));
  auto y = cbor::bytes(cbor::by_int(map, kY));
  if (!x || !y || x->size() != 32 || y->size() != 32) return malformed("P-256 coordinates");
  std::string point = "\x04" + *x + *y;
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return core::internal("OSSL_PARAM_BLD for EC key");
  }
  auto key = from_params("EC", bld.get());
  if (!key || !public_check(key.get())) return malformed("EC point not on P-256");
  return PublicKey::adopt(key.release(), alg, std::move(point));
}

core::Result<PublicKey> rsa_key(const cbor_item_t* map, int64_t alg) {
  if (alg != kRs256) return unsupported(alg);
  auto n = cbor::bytes(cbor::by_int(map, kCrvOrN));
  auto e = cbor::bytes(cbor::by_int(map, kXOrE));
  if (!n || !e || n->empty() || e->empty() || e->size() > 8) return malformed("RSA n/e");
  std::unique_ptr<BIGNUM, BnFree> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                                                 static_cast<int>(n->size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                                                 static_cast<int>(e->size()), nullptr));
  if (!bn_n || !bn_e) return core::internal("BN_bin2bn");
  int bits = BN_num_bits(bn_n.get());
  if (bits < 2048 || bits > 8192)
    return malformed("RSA modulus of " + std::to_string(bits) + " bits");
  if (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get())) return malformed("RSA exponent");
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return core::internal("OSSL_PARAM_BLD for RSA key");
  }
  auto key = from_params("RSA", bld.get());
  if (!key) return malformed("RSA key");
  return PublicKey::adopt(key.release(), alg);
}

core::Result<PublicKey> okp_key(const cbor_item_t* map, int64_t alg) {
  if (alg != kEdDsa) return unsupported(alg);
  auto crv = cbor::integer(cbor::by_int(map, kCrvOrN));
  if (!crv || *crv != kCrvEd25519) return malformed("EdDSA needs curve Ed25519");
  auto x = cbor::bytes(cbor::by_int(map, kXOrE));
  if (!x || x->size() != 32) return malformed("Ed25519 key size");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
  if (key == nullptr) return malformed("Ed25519 key");
  return PublicKey::adopt(key, alg);
}

}  // namespace

bool supported_alg(int alg) { return alg == kEs256 || alg == kEdDsa || alg == kRs256; }

PublicKey PublicKey::adopt(EVP_PKEY* key, int alg, std::string ec_point) {
  PublicKey k;
  k.key_ = std::shared_ptr<EVP_PKEY>(key, PkeyFree{});
  k.alg_ = alg;
  k.ec_point_ = std::move(ec_point);
  return k;
}

bool PublicKey::verify(std::string_view data, std::string_view sig) const {
  return key_ && verify_with_key(key_.get(), alg_, data, sig);
}

bool verify_with_key(EVP_PKEY* key, int alg, std::string_view data, std::string_view sig) {
  if (key == nullptr || sig.empty()) return false;
  const EVP_MD* md = nullptr;
  switch (alg) {
    case kEs256:
      if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
      md = EVP_sha256();
      break;
    case kRs256:
      if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return false;
      md = EVP_sha256();
      break;
    case kEdDsa:
      if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) return false;
      break;  // Ed25519 is one-shot with no separate digest
    default:
      return false;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx ||
      EVP_DigestVerifyInit_ex(ctx.get(), &pctx, md == nullptr ? nullptr : EVP_MD_get0_name(md),
                              nullptr, nullptr, key, nullptr) != 1) {
    return false;
  }
  if (alg == kRs256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

core::Result<PublicKey> parse_cose_key(std::string_view data) {
  cbor::Item item = cbor::load_exact(data);
  if (!item) return malformed("not one CBOR item");
  if (!cbor::is_definite_map(item.get())) return malformed("not a map");
  // A repeated label would let two readers of the same key disagree.
  cbor_pair* pairs = cbor_map_handle(item.get());
  const size_t n = cbor_map_size(item.get());
  for (size_t i = 0; i < n; ++i) {
    auto ki = cbor::integer(pairs[i].key);
    if (!ki) continue;
    for (size_t j = i + 1; j < n; ++j) {
      auto kj = cbor::integer(pairs[j].key);
      if (kj && *kj == *ki) return malformed("duplicate label");
    }
  }
  auto kty = cbor::integer(cbor::by_int(item.get(), kKty));
  auto alg = cbor::integer(cbor::by_int(item.get(), kAlg));
  if (!kty) return malformed("kty");
  if (!alg) return malformed("alg");
  if (*alg < INT32_MIN || *alg > INT32_MAX) return unsupported(*alg);
  switch (*kty) {
    case kKtyEc2:
      return ec2_key(item.get(), *alg);
    case kKtyRsa:
      return rsa_key(item.get(), *alg);
    case kKtyOkp:
      return okp_key(item.get(), *alg);
    default:
      return unsupported(*alg);
  }
}

}  // namespace twostep::factors::webauthn
