#include "twostep/crypto/random.hpp"

#include <sodium.h>

#include "twostep/core/secret.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/sodium_init.hpp"

namespace twostep::crypto {

std::string random_bytes(std::size_t n) {
  ensure_sodium();
  std::string out(n, '\0');
  if (n > 0) randombytes_buf(out.data(), n);
  return out;
}

std::string random_token(std::size_t nbytes) {
  std::string raw = random_bytes(nbytes);
  std::string token = base64url_encode(raw);
  core::secure_zero(raw.data(), raw.size());
  return token;
}

uint32_t random_uniform(uint32_t upper_bound) {
  ensure_sodium();
  return randombytes_uniform(upper_bound);
}

}  // namespace twostep::crypto
