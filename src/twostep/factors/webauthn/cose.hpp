// COSE public keys (RFC 8152 §13, as CTAP2 authenticators emit them) parsed with libcbor into
// OpenSSL keys, and the signature checks WebAuthn needs: ES256 (ECDSA P-256, DER signature),
// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) and EdDSA (Ed25519). No I/O.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "twostep/core/error.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace twostep::factors::webauthn {

// COSE algorithm identifiers (IANA "COSE Algorithms").
inline constexpr int kEs256 = -7;
inline constexpr int kEdDsa = -8;
inline constexpr int kRs256 = -257;

// True for the algorithms this relying party verifies.
bool supported_alg(int alg);

// A verified-usable public key. Cheap to copy (shared, immutable).
class PublicKey {
 public:
  PublicKey() = default;
  int alg() const { return alg_; }
  bool valid() const { return key_ != nullptr; }
  // True when `sig` is a valid signature of `data` with this key under alg().
  bool verify(std::string_view data, std::string_view sig) const;
  // EC P-256 only: the uncompressed point 0x04 || x || y (FIDO U2F's public key form);
  // empty for other key types.
  const std::string& ec_point() const { return ec_point_; }

  // Takes ownership of `key` (an OpenSSL key of a type matching alg).
  static PublicKey adopt(EVP_PKEY* key, int alg, std::string ec_point = {});

 private:
  std::shared_ptr<EVP_PKEY> key_;
  int alg_ = 0;
  std::string ec_point_;
};

// Parses one COSE_Key from `cbor` (which must hold exactly that item). Checks that kty, crv
// and alg agree, the coordinates have the right sizes, the EC point is on the curve and an
// RSA modulus has 2048..8192 bits. Errors: kInvalidArgument with reason "malformed" or
// "unsupported_algorithm".
core::Result<PublicKey> parse_cose_key(std::string_view cbor);

// Verifies a signature made by the key inside an X.509 certificate (DER), with a COSE alg.
// Used for attestation statements with x5c.
bool verify_with_key(EVP_PKEY* key, int alg, std::string_view data, std::string_view sig);

}  // namespace twostep::factors::webauthn
