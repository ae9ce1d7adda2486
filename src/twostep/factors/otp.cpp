#include "twostep/factors/otp.hpp"

#include <sodium.h>

#include <array>
#include <stdexcept>

#include "twostep/crypto/encoding.hpp"

namespace twostep::factors {
namespace {

constexpr std::array<uint64_t, 11> kPow10 = {
    1ULL,       10ULL,       100ULL,       1000ULL,       10000ULL,      100000ULL,
    1000000ULL, 10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL};
constexpr int kMaxDigits = 10;  // the truncated value has 31 bits: at most 10 decimal digits

bool valid_digits(int digits) { return digits >= 1 && digits <= kMaxDigits; }

// The HOTP value for counter (RFC 4226 dynamic truncation, mod 10^digits), with no
// allocation: the TOTP window check runs this once per candidate.
uint64_t hotp_value(crypto::Hmac& mac, uint64_t counter, int digits) {
  unsigned char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  unsigned char h[64];
  mac.mac(std::string_view(reinterpret_cast<const char*>(msg), sizeof msg), h);
  const std::size_t n = mac.size();
  const unsigned offset = h[n - 1] & 0x0f;
  const uint32_t binary = (uint32_t{h[offset]} & 0x7f) << 24 | uint32_t{h[offset + 1]} << 16 |
                          uint32_t{h[offset + 2]} << 8 | uint32_t{h[offset + 3]};
  sodium_memzero(h, n);
  return binary % kPow10[digits];
}

}  // namespace

std::string hotp(HashAlg alg, std::string_view key, uint64_t counter, int digits) {
  if (!valid_digits(digits)) throw std::invalid_argument("hotp: digits must be 1..10");
  crypto::Hmac mac(alg, key);
  uint64_t value = hotp_value(mac, counter, digits);
  std::string code(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    code[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return code;
}

int64_t totp_step(int64_t unix_time, int period) {
  if (period <= 0) throw std::invalid_argument("totp: period must be positive");
  int64_t q = unix_time / period;
  if (unix_time % period != 0 && unix_time < 0) --q;  // floor, not truncation toward zero
  return q;
}

std::string totp(const TotpParams& p, std::string_view key, int64_t unix_time) {
  return hotp(p.alg, key, static_cast<uint64_t>(totp_step(unix_time, p.period)), p.digits);
}

std::optional<int64_t> totp_match(const TotpParams& p, std::string_view key, std::string_view code,
                                  int64_t unix_time, int window) {
  if (!valid_digits(p.digits) || p.period <= 0 || window < 0 ||
      code.size() != static_cast<std::size_t>(p.digits)) {
    return std::nullopt;
  }
  // The code's length is fixed, so as a number it is as good as the zero-padded string, and
  // numbers compare without formatting each candidate.
  uint64_t expected = 0;
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
    expected = expected * 10 + static_cast<uint64_t>(c - '0');
  }
  crypto::Hmac mac(p.alg, key);
  const int64_t step = totp_step(unix_time, p.period);
  std::optional<int64_t> matched;
  for (int64_t s = step - window; s <= step + window; ++s) {
    if (s < 0) continue;  // depends only on the time, never on the code
    const uint64_t diff = hotp_value(mac, static_cast<uint64_t>(s), p.digits) ^ expected;
    // 1 iff diff == 0, computed without a data-dependent branch.
    const uint64_t equal = 1 ^ ((diff | (0 - diff)) >> 63);
    if (equal != 0 && !matched) matched = s;
  }
  return matched;
}

std::string otpauth_uri(const TotpParams& p, std::string_view issuer, std::string_view account,
                        std::string_view secret_base32) {
  std::string uri = "otpauth://totp/";
  if (!issuer.empty()) {
    uri += crypto::percent_encode(issuer);
    uri.push_back(':');
  }
  uri += crypto::percent_encode(account);
  uri += "?secret=";
  uri += crypto::percent_encode(secret_base32);
  if (!issuer.empty()) {
    uri += "&issuer=";
    uri += crypto::percent_encode(issuer);
  }
  uri += "&algorithm=" + hash_alg_name(p.alg);
  uri += "&digits=" + std::to_string(p.digits);
  uri += "&period=" + std::to_string(p.period);
  return uri;
}

std::optional<HashAlg> parse_hash_alg(std::string_view name) {
  std::string upper;
  for (char c : name) upper.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
  if (upper == "SHA1") return HashAlg::kSha1;
  if (upper == "SHA256") return HashAlg::kSha256;
  if (upper == "SHA512") return HashAlg::kSha512;
  return std::nullopt;
}

std::string hash_alg_name(HashAlg alg) {
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

}  // namespace twostep::factors
