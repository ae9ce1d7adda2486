// Hashes and MACs: SHA-256 (digests of tokens), HMAC (HOTP/TOTP, via OpenSSL 3 EVP_MAC since
// libsodium has no HMAC-SHA-1), keyed BLAKE2b for secrets stored only as hashes, and
// constant-time comparison.
#pragma once

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace twostep::crypto {

enum class HashAlg { kSha1, kSha256, kSha512 };

// Digest size in bytes of alg: 20, 32 or 64.
std::size_t hash_size(HashAlg alg);

// Raw 32-byte SHA-256.
std::string sha256(std::string_view data);
std::string sha256_hex(std::string_view data);

// The same digest without a heap string: a key for in-memory maps on hot paths (/verify).
using Sha256Digest = std::array<unsigned char, 32>;
Sha256Digest sha256_digest(std::string_view data);
// A digest is uniformly distributed: its first bytes are a good hash already.
struct DigestHash {
  std::size_t operator()(const Sha256Digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

// Raw HMAC of data under key (OpenSSL 3 EVP_MAC).
std::string hmac(HashAlg alg, std::string_view key, std::string_view data);

// One key, many MACs (RFC 2104 over OpenSSL digest contexts): the ipad/opad states are computed
// once, so checking a TOTP window costs two short digests per candidate instead of a full
// HMAC set-up each time. Same output as hmac(). Not thread-safe: use one per thread.
// Move-only; the key state is wiped on destruction.
class Hmac {
 public:
  Hmac(HashAlg alg, std::string_view key);
  ~Hmac();
  Hmac(Hmac&&) noexcept;
  Hmac& operator=(Hmac&&) noexcept;
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  std::size_t size() const;
  // Writes size() bytes to out.
  void mac(std::string_view data, unsigned char* out);
  std::string mac(std::string_view data);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// BLAKE2b-256 keyed with a 32-byte key (crypto_generichash), lower-case hex. For recovery
// codes, application passwords and SMS codes, which are stored only as keyed hashes with a
// pepper from the keyring: a stolen database alone cannot be brute-forced offline.
// A key of any other size is a programming error (throws std::invalid_argument).
std::string keyed_hash_hex(std::string_view key32, std::string_view data);

// Constant time in the content (sodium_memcmp); false if the sizes differ (sizes are not
// secret: codes and hashes have fixed lengths).
bool ct_equal(std::string_view a, std::string_view b);

}  // namespace twostep::crypto
