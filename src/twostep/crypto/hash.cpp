#include "twostep/crypto/hash.hpp"

// Hmac uses OpenSSL's plain digest contexts, deprecated in 3.0: see the note above it.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <cstring>
#include <stdexcept>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/sodium_init.hpp"

namespace twostep::crypto {
namespace {

const char* digest_name(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return "SHA1";
    case HashAlg::kSha256:
      return "SHA256";
    case HashAlg::kSha512:
      return "SHA512";
  }
  return "SHA1";
}

// Fetching an algorithm from OpenSSL's provider store takes a lock and a lookup, so the
// HMAC method is fetched once for the process (EVP_MAC objects are immutable and shareable).
EVP_MAC* hmac_method() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) throw std::runtime_error("OpenSSL: HMAC unavailable");
  return mac;
}

// A per-thread, per-algorithm HMAC context with its digest already chosen and never keyed:
// one-shot MACs copy it instead of looking the digest up by name every time. (Contexts are
// not thread-safe; hence one per thread.)
EVP_MAC_CTX* prototype(HashAlg alg) {
  struct Prototypes {
    EVP_MAC_CTX* ctx[3] = {nullptr, nullptr, nullptr};
    ~Prototypes() {
      for (auto* c : ctx) EVP_MAC_CTX_free(c);
    }
  };
  thread_local Prototypes protos;
  auto& slot = protos.ctx[static_cast<int>(alg)];
  if (slot == nullptr) {
    EVP_MAC_CTX* c = EVP_MAC_CTX_new(hmac_method());
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                            const_cast<char*>(digest_name(alg)), 0),
                           OSSL_PARAM_construct_end()};
    if (c == nullptr || EVP_MAC_CTX_set_params(c, params) != 1) {
      EVP_MAC_CTX_free(c);
      throw std::runtime_error("OpenSSL: HMAC context set-up failed");
    }
    slot = c;
  }
  return slot;
}

constexpr std::size_t kMaxBlock = 128;  // SHA-512's block size, the largest here

}  // namespace

std::size_t hash_size(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return 20;
    case HashAlg::kSha256:
      return 32;
    case HashAlg::kSha512:
      return 64;
  }
  return 0;
}

std::string sha256(std::string_view data) {
  ensure_sodium();
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return out;
}

std::string sha256_hex(std::string_view data) { return hex_encode(sha256(data)); }

Sha256Digest sha256_digest(std::string_view data) {
  ensure_sodium();
  Sha256Digest out;
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return out;
}

// The reusable form is RFC 2104 over OpenSSL's plain digest contexts (SHA_CTX & co.):
// absorbing ipad/opad once and copying those states per MAC is a struct copy. The EVP layer
// of OpenSSL 3 allocates, frees and cleanses a provider context on every copy or re-init,
// which made a ±1 TOTP window check slower than liboath's plain C (about 820 vs 720 ns in
// bench/totp_bench); with these contexts it takes about 450 ns. They are deprecated in 3.0
// but kept through 3.x; tests pin this path to the EVP_MAC one-shot and to RFC vectors.
namespace {

struct DigestState {
  HashAlg alg;
  union {
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512;
  };
};

void digest_init(DigestState& d) {
  switch (d.alg) {
    case HashAlg::kSha1:
      SHA1_Init(&d.sha1);
      return;
    case HashAlg::kSha256:
      SHA256_Init(&d.sha256);
      return;
    case HashAlg::kSha512:
      SHA512_Init(&d.sha512);
      return;
  }
}

void digest_update(DigestState& d, const void* data, std::size_t n) {
  switch (d.alg) {
    case HashAlg::kSha1:
      SHA1_Update(&d.sha1, data, n);
      return;
    case HashAlg::kSha256:
      SHA256_Update(&d.sha256, data, n);
      return;
    case HashAlg::kSha512:
      SHA512_Update(&d.sha512, data, n);
      return;
  }
}

void digest_final(DigestState& d, unsigned char* out) {
  switch (d.alg) {
    case HashAlg::kSha1:
      SHA1_Final(out, &d.sha1);
      return;
    case HashAlg::kSha256:
      SHA256_Final(out, &d.sha256);
      return;
    case HashAlg::kSha512:
      SHA512_Final(out, &d.sha512);
      return;
  }
}

std::size_t block_size(HashAlg alg) { return alg == HashAlg::kSha512 ? 128 : 64; }

std::size_t context_size(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return sizeof(SHA_CTX);
    case HashAlg::kSha256:
      return sizeof(SHA256_CTX);
    case HashAlg::kSha512:
      return sizeof(SHA512_CTX);
  }
  return sizeof(SHA512_CTX);
}

}  // namespace

struct Hmac::State {
  std::size_t size;
  DigestState inner;  // after absorbing K ^ ipad: as good as the key, so wiped
  DigestState outer;  // after absorbing K ^ opad
  ~State() {
    OPENSSL_cleanse(&inner.sha1, context_size(inner.alg));
    OPENSSL_cleanse(&outer.sha1, context_size(outer.alg));
  }
};

// Default-initialised on purpose: every field is written below, and zeroing two SHA-512
// contexts first would cost as much as a digest here.
Hmac::Hmac(HashAlg alg, std::string_view key) : state_(new State) {
  State& st = *state_;
  st.size = hash_size(alg);
  st.inner.alg = alg;
  st.outer.alg = alg;
  const std::size_t block = block_size(alg);
  // Only the key's own bytes are XORed: the rest of each pad is the constant itself.
  unsigned char k[kMaxBlock];
  std::size_t klen = key.size();
  if (klen > block) {
    // Keys longer than a block are hashed first (RFC 2104).
    DigestState d;
    d.alg = alg;
    digest_init(d);
    digest_update(d, key.data(), key.size());
    digest_final(d, k);
    OPENSSL_cleanse(&d.sha1, context_size(alg));
    klen = st.size;
  } else if (klen > 0) {
    std::memcpy(k, key.data(), klen);
  }
  unsigned char pad[kMaxBlock];
  std::memset(pad, 0x36, block);
  for (std::size_t i = 0; i < klen; ++i) pad[i] ^= k[i];
  digest_init(st.inner);
  digest_update(st.inner, pad, block);
  std::memset(pad, 0x5c, block);
  for (std::size_t i = 0; i < klen; ++i) pad[i] ^= k[i];
  digest_init(st.outer);
  digest_update(st.outer, pad, block);
  OPENSSL_cleanse(k, klen);
  OPENSSL_cleanse(pad, block);
}

Hmac::~Hmac() = default;
Hmac::Hmac(Hmac&&) noexcept = default;
Hmac& Hmac::operator=(Hmac&&) noexcept = default;

std::size_t Hmac::size() const { return state_->size; }

void Hmac::mac(std::string_view data, unsigned char* out) {
  const State& st = *state_;
  unsigned char inner_hash[kMaxBlock / 2];
  DigestState work = st.inner;
  digest_update(work, data.data(), data.size());
  digest_final(work, inner_hash);
  work = st.outer;
  digest_update(work, inner_hash, st.size);
  digest_final(work, out);
  // work now only holds the outer digest, i.e. the output; the inner one is wiped.
  OPENSSL_cleanse(inner_hash, st.size);
}

std::string Hmac::mac(std::string_view data) {
  std::string out(state_->size, '\0');
  mac(data, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string hmac(HashAlg alg, std::string_view key, std::string_view data) {
  // A copy of the thread's keyless prototype (digest already chosen), freed, and so wiped,
  // when done: no key state outlives the call.
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(EVP_MAC_CTX_dup(prototype(alg)),
                                                                &EVP_MAC_CTX_free);
  static const unsigned char kEmpty = 0;  // OpenSSL wants a non-null pointer for an empty key
  const auto* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  std::string out(hash_size(alg), '\0');
  std::size_t len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), k, key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
          1 ||
      EVP_MAC_final(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, out.size()) !=
          1 ||
      len != out.size()) {
    throw std::runtime_error("OpenSSL: HMAC failed");
  }
  return out;
}

std::string keyed_hash_hex(std::string_view key32, std::string_view data) {
  if (key32.size() != 32) throw std::invalid_argument("keyed_hash_hex: key must be 32 bytes");
  ensure_sodium();
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), reinterpret_cast<const unsigned char*>(key32.data()),
                     key32.size());
  return hex_encode(std::string_view(reinterpret_cast<const char*>(out), sizeof out));
}

bool ct_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  ensure_sodium();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace twostep::crypto
