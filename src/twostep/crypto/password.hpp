// Password hashing with Argon2id (libsodium crypto_pwhash_str_alg, ARGON2ID13). The encoded
// string carries salt and cost, so verification needs nothing else and old hashes keep
// working after the cost is raised (password_needs_rehash tells when to upgrade one).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "twostep/core/error.hpp"

namespace twostep::crypto {

struct PasswordParams {
  uint32_t memory_kib = 19 * 1024;  // OWASP's minimum recommendation for Argon2id
  uint32_t iterations = 2;
};

// "$argon2id$v=19$m=...,t=...,p=1$salt$hash". kInternal if libsodium cannot allocate the
// memory; kInvalidArgument if the parameters are below libsodium's minimum.
core::Result<std::string> hash_password(std::string_view password, const PasswordParams& p);

// False on a wrong password and on a malformed or non-Argon2 hash (never throws).
bool verify_password(std::string_view encoded_hash, std::string_view password);

// True if the hash was made with other parameters or another algorithm, or is malformed.
bool password_needs_rehash(std::string_view encoded_hash, const PasswordParams& p);

}  // namespace twostep::crypto
