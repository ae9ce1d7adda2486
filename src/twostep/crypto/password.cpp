#include "twostep/crypto/password.hpp"

#include <sodium.h>

#include <array>
#include <cstring>
#include <optional>

#include "twostep/crypto/sodium_init.hpp"

namespace twostep::crypto {
namespace {

// libsodium reads the encoded hash as a NUL-terminated string of at most STRBYTES bytes:
// copy it into such a buffer so a string_view without terminator, an embedded NUL or an
// oversized value can never be read past its end.
std::optional<std::array<char, crypto_pwhash_STRBYTES>> c_hash(std::string_view encoded) {
  if (encoded.empty() || encoded.size() >= crypto_pwhash_STRBYTES ||
      encoded.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::array<char, crypto_pwhash_STRBYTES> buf{};
  std::memcpy(buf.data(), encoded.data(), encoded.size());
  return buf;
}

unsigned long long memlimit_bytes(const PasswordParams& p) {
  return static_cast<unsigned long long>(p.memory_kib) * 1024ULL;
}

}  // namespace

core::Result<std::string> hash_password(std::string_view password, const PasswordParams& p) {
  ensure_sodium();
  if (p.iterations < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
      memlimit_bytes(p) < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
      memlimit_bytes(p) > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
    return core::fail(
        core::Code::kInvalidArgument, "invalid_password_params",
        "Password hashing parameters are out of range.",
        "argon2id m=" + std::to_string(p.memory_kib) + "KiB t=" + std::to_string(p.iterations));
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), p.iterations,
                            static_cast<size_t>(memlimit_bytes(p)),
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return core::internal("argon2id hashing failed (out of memory?)");
  }
  return std::string(out);
}

bool verify_password(std::string_view encoded_hash, std::string_view password) {
  ensure_sodium();
  auto buf = c_hash(encoded_hash);
  if (!buf) return false;
  // Only Argon2id hashes are ours; an argon2i string would verify with libsodium's generic
  // function, but nothing in twostep ever writes one.
  if (std::string_view(buf->data()).rfind(crypto_pwhash_argon2id_STRPREFIX, 0) != 0) {
    return false;
  }
  return crypto_pwhash_argon2id_str_verify(buf->data(), password.data(), password.size()) == 0;
}

bool password_needs_rehash(std::string_view encoded_hash, const PasswordParams& p) {
  ensure_sodium();
  auto buf = c_hash(encoded_hash);
  if (!buf) return true;
  // 1 = other parameters, -1 = not an Argon2id string: both mean "hash again".
  return crypto_pwhash_argon2id_str_needs_rehash(buf->data(), p.iterations,
                                                 static_cast<size_t>(memlimit_bytes(p))) != 0;
}

}  // namespace twostep::crypto
