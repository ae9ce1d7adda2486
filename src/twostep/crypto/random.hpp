// Cryptographically secure randomness (libsodium): keys, nonces, tokens, codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace twostep::crypto {

// n random bytes.
std::string random_bytes(std::size_t n);
// base64url (no padding) of nbytes random bytes: session ids, CSRF tokens, enrolment links.
std::string random_token(std::size_t nbytes);
// Uniform in [0, upper_bound) without modulo bias; 0 when upper_bound < 2.
uint32_t random_uniform(uint32_t upper_bound);

}  // namespace twostep::crypto
