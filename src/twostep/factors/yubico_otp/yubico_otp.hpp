// Yubico OTP, validated locally (no YubiCloud): the 44-character modhex string a YubiKey types
// is a public id (which key) and a 16-byte AES-128 block holding the private id, counters and
// a CRC (libyubikey does the modhex, AES and CRC). Also the CSV that personalization tools
// write when they program a key. Pure functions, no I/O: which key belongs to whom and the
// "strictly increasing counter" rule live in the service and the store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/error.hpp"

namespace twostep::factors::yubico_otp {

inline constexpr size_t kTokenChars = 32;        // modhex of the 16-byte AES block
inline constexpr size_t kMaxPublicIdChars = 32;  // modhex of at most 16 bytes
inline constexpr size_t kPrivateIdSize = 6;
inline constexpr size_t kAesKeySize = 16;

// True when every character is modhex (cbdefghijklnrtuv), case-insensitively.
bool is_modhex(std::string_view s);

struct ParsedOtp {
  std::string public_id;  // lower-case modhex, 2..32 characters
  std::string token;      // the 16 encrypted bytes
};

// Splits and decodes an OTP as typed: surrounding whitespace is ignored and upper case is
// folded (caps lock). kInvalidArgument "invalid_otp" for anything else: wrong length, a
// non-modhex character, no public id.
core::Result<ParsedOtp> parse_otp(std::string_view otp);

struct OtpCounter {
  uint16_t session_counter = 0;  // 15 bits: incremented at each power-up
  uint8_t use = 0;               // presses within this power-up
  uint32_t timestamp = 0;        // 24-bit 8 Hz timer since power-up
  // (session counter, use) as one number that every new OTP of the key makes larger.
  int64_t combined() const { return (int64_t{session_counter} << 8) | use; }
};

// Decrypts `token` (16 bytes) with `aes_key` (16 bytes), checks the CRC and that the private
// id equals `private_id` (6 bytes, constant-time). kInvalidArgument "invalid_otp" when any
// of it fails; the detail says which.
core::Result<OtpCounter> decrypt_token(std::string_view token, std::string_view aes_key,
                                       std::string_view private_id);

// One key as a personalization tool wrote it.
struct KeyRecord {
  std::string public_id;   // lower-case modhex
  std::string private_id;  // 6 bytes
  std::string aes_key;     // 16 bytes
};

// Parses a key export. Understood lines (fields separated by commas):
//   "Yubico OTP,<time>,<slot>,<public id>,<private id hex>,<AES key hex>,..."  (traditional log)
//   "<serial>,<public id>,<private id hex>,<AES key hex>,<access code>,<time>,"  (Yubico format,
//   also written by `ykman otp yubiotp --config-output`)
//   "<public id>,<private id hex>,<AES key hex>"
// Blank lines, "#" comments and "LOGGING START" lines are skipped. All or nothing: the first
// bad line is a kInvalidArgument error naming its number (never its secret fields).
core::Result<std::vector<KeyRecord>> parse_key_file(std::string_view text);

}  // namespace twostep::factors::yubico_otp
