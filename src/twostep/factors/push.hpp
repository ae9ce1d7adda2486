// The companion authenticator's protocol, shared by the server and `twostep-auth`: Ed25519
// request signatures (what exactly is signed and how it is checked), the enrolment URI the
// QR code carries, and the numbers of number matching. Pure functions: no I/O and no clock
// (callers pass the time), so both sides and the tests use the very same code.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "twostep/core/secret.hpp"

namespace twostep::factors::push {

inline constexpr std::size_t kPublicKeySize = 32;  // Ed25519 (libsodium crypto_sign)
inline constexpr std::size_t kSecretKeySize = 64;
inline constexpr std::size_t kSignatureSize = 64;
inline constexpr std::size_t kSeedSize = 20;  // the authenticator's TOTP seed: 160 bits

// Request headers of a signed request. The device id is absent only on enrolment, where the
// public key travels in the body and the signature proves the sender holds its secret key.
inline constexpr const char* kDeviceHeader = "x-twostep-device";
inline constexpr const char* kTimestampHeader = "x-twostep-timestamp";  // Unix milliseconds
inline constexpr const char* kSignatureHeader = "x-twostep-signature";  // base64url, 64 bytes

struct KeyPair {
  std::string public_key;   // 32 raw bytes
  core::Secret secret_key;  // 64 raw bytes (libsodium's seed || public key form)
};
KeyPair generate_keypair();

// The bytes a request signature covers, one field per line:
//   "twostep-auth-v1" \n METHOD \n TARGET \n DEVICE_ID \n TIMESTAMP_MS \n hex(SHA-256(body))
// TARGET is the request target as sent (path and query). The version line keeps these
// signatures from ever being valid for another protocol.
std::string signing_string(std::string_view method, std::string_view target,
                           std::string_view device_id, int64_t timestamp_ms, std::string_view body);

// Detached Ed25519 signature (64 raw bytes). secret_key must be 64 bytes
// (std::invalid_argument otherwise: a programming error).
std::string sign(std::string_view secret_key, std::string_view message);
// False for a wrong signature, or a key or signature of the wrong size.
bool verify(std::string_view public_key, std::string_view message, std::string_view signature);

// The timestamp header: 1..16 decimal digits, nothing else.
std::optional<int64_t> parse_timestamp(std::string_view text);

// twostep://enroll?server=<url>&token=<token>&account=<name>&issuer=<issuer>
// Components are percent-encoded; parsing accepts them in any order and ignores unknown ones.
struct Enrollment {
  std::string server;  // http(s)://host[:port] without a trailing slash
  std::string token;   // single-use enrolment token
  std::string account;
  std::string issuer;
};
std::string enrollment_uri(const Enrollment& e);
// nullopt unless the scheme is twostep://enroll, server is http(s) and token is non-empty.
std::optional<Enrollment> parse_enrollment_uri(std::string_view uri);

// Number matching: the sign-in page shows `number`; approvers are offered `choices` (three
// distinct two-digit numbers, `number` among them at a random place) and must pick it.
struct NumberChallenge {
  int number = 0;
  std::array<int, 3> choices{};
};
NumberChallenge new_number_challenge();
// "12,47,83" <-> {12,47,83}; parse gives nullopt unless exactly three numbers 10..99.
std::string format_choices(const std::array<int, 3>& choices);
std::optional<std::array<int, 3>> parse_choices(std::string_view text);

}  // namespace twostep::factors::push
