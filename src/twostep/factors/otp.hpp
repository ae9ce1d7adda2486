// One-time passwords: HOTP (RFC 4226), TOTP (RFC 6238) and the otpauth:// URI that OTP apps
// scan. Pure functions of key, counter and time, so RFC vectors are plain calls; the caller
// supplies the time (from its injected clock) and remembers used steps (the store's
// use-once write), since replay protection needs shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "twostep/crypto/hash.hpp"

namespace twostep::factors {

using crypto::HashAlg;

// RFC 4226 HOTP: dynamic truncation, code = value mod 10^digits, zero-padded.
// digits must be 1..10 (std::invalid_argument otherwise: a programming error).
std::string hotp(HashAlg alg, std::string_view key, uint64_t counter, int digits);

struct TotpParams {
  HashAlg alg = HashAlg::kSha1;
  int digits = 6;
  int period = 30;
};

// floor(t / period), also for times before the epoch. period must be > 0.
int64_t totp_step(int64_t unix_time, int period);

std::string totp(const TotpParams& p, std::string_view key, int64_t unix_time);

// Checks code against steps [step-window, step+window] of unix_time, comparing each
// candidate in constant time and always checking every candidate (no early exit, so the
// time taken says nothing about which step matched). Returns the earliest matching step, or
// nullopt. A code of the wrong length or with non-digits, a negative window or invalid
// params give nullopt. Steps before the epoch are never candidates.
std::optional<int64_t> totp_match(const TotpParams& p, std::string_view key, std::string_view code,
                                  int64_t unix_time, int window);

// Key Uri Format (Google Authenticator wiki):
// otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
// Label parts and issuer are percent-encoded (RFC 3986 unreserved characters kept, space as
// %20, ':' encoded so it only ever separates issuer and account). With an empty issuer the
// label is the account alone and the issuer parameter is left out.
std::string otpauth_uri(const TotpParams& p, std::string_view issuer, std::string_view account,
                        std::string_view secret_base32);

// "SHA1", "SHA256", "SHA512", case-insensitive.
std::optional<HashAlg> parse_hash_alg(std::string_view name);
// "SHA1", "SHA256" or "SHA512".
std::string hash_alg_name(HashAlg alg);

}  // namespace twostep::factors
