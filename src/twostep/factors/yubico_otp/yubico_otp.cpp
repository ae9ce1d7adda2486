#include "twostep/factors/yubico_otp/yubico_otp.hpp"

#include <yubikey.h>

#include <algorithm>

#include "twostep/core/secret.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"

namespace twostep::factors::yubico_otp {
using core::Code;

namespace {

constexpr std::string_view kModhex = "cbdefghijklnrtuv";

tl::unexpected<core::Error> invalid_otp(std::string detail) {
  return core::fail(Code::kInvalidArgument, "invalid_otp",
                    "That is not a YubiKey one-time password. Touch your YubiKey in the field.",
                    "yubico otp: " + detail);
}

// Lower-case modhex → bytes (the input must already be valid modhex of even length).
std::string modhex_decode(const std::string& lower) {
  std::string out(lower.size() / 2 + 1, '\0');
  yubikey_modhex_decode(out.data(), lower.c_str(), out.size());
  out.resize(lower.size() / 2);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string_view> split_commas(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  for (;;) {
    size_t comma = line.find(',', pos);
    out.push_back(trim(line.substr(pos, comma == std::string_view::npos ? comma : comma - pos)));
    if (comma == std::string_view::npos) return out;
    pos = comma + 1;
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_public_id(std::string_view s) {
  return s.size() >= 2 && s.size() <= kMaxPublicIdChars && s.size() % 2 == 0 && is_modhex(s);
}

}  // namespace

bool is_modhex(std::string_view s) {
  for (char c : s) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (kModhex.find(l) == std::string_view::npos) return false;
  }
  return true;
}

core::Result<ParsedOtp> parse_otp(std::string_view otp) {
  otp = trim(otp);
  if (otp.size() < kTokenChars + 2 || otp.size() > kTokenChars + kMaxPublicIdChars) {
    return invalid_otp("length " + std::to_string(otp.size()));
  }
  if (otp.size() % 2 != 0 || !is_modhex(otp)) return invalid_otp("not modhex");
  std::string l = lower(otp);
  ParsedOtp p;
  p.public_id = l.substr(0, l.size() - kTokenChars);
  p.token = modhex_decode(l.substr(l.size() - kTokenChars));
  return p;
}

core::Result<OtpCounter> decrypt_token(std::string_view token, std::string_view aes_key,
                                       std::string_view private_id) {
  if (token.size() != YUBIKEY_BLOCK_SIZE || aes_key.size() != kAesKeySize ||
      private_id.size() != kPrivateIdSize) {
    return invalid_otp("sizes");
  }
  uint8_t block[YUBIKEY_BLOCK_SIZE];
  std::copy(token.begin(), token.end(), block);
  yubikey_aes_decrypt(block, reinterpret_cast<const uint8_t*>(aes_key.data()));
  bool crc_ok = yubikey_crc16(block, YUBIKEY_BLOCK_SIZE) == YUBIKEY_CRC_OK_RESIDUE;
  bool id_ok = crypto::ct_equal(
      std::string_view(reinterpret_cast<const char*>(block), YUBIKEY_UID_SIZE), private_id);
  // Fields are little-endian: uid[6] ctr[2] tstpl[2] tstph[1] use[1] rnd[2] crc[2].
  OtpCounter c;
  c.session_counter = static_cast<uint16_t>((block[6] | (block[7] << 8)) & 0x7fff);
  c.timestamp = uint32_t{block[8]} | (uint32_t{block[9]} << 8) | (uint32_t{block[10]} << 16);
  c.use = block[11];
  core::secure_zero(block, sizeof block);
  if (!crc_ok) return invalid_otp("crc (wrong key or damaged OTP)");
  if (!id_ok) return invalid_otp("private id mismatch");
  return c;
}

core::Result<std::vector<KeyRecord>> parse_key_file(std::string_view text) {
  std::vector<KeyRecord> out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (line.empty() || line.front() == '#' || line.substr(0, 13) == "LOGGING START") continue;
    auto fields = split_commas(line);
    size_t first = 0;
    if (!fields.empty() && fields[0] == "Yubico OTP") {
      first = 3;
    } else if (!fields.empty() && (all_digits(fields[0]) || fields[0].empty())) {
      first = 1;
    }
    auto bad = [&](const char* what) {
      return core::fail(Code::kInvalidArgument, "invalid_key_file",
                        "line " + std::to_string(line_no) + ": " + what);
    };
    if (fields.size() < first + 3) return bad("expected public id, private id and AES key");
    std::string_view pub = fields[first];
    if (!valid_public_id(pub)) return bad("the public id is not 2-32 modhex characters");
    auto priv = crypto::hex_decode(fields[first + 1]);
    if (!priv || priv->size() != kPrivateIdSize) return bad("the private id is not 12 hex digits");
    auto key = crypto::hex_decode(fields[first + 2]);
    if (!key || key->size() != kAesKeySize) return bad("the AES key is not 32 hex digits");
    out.push_back(KeyRecord{lower(pub), std::move(*priv), std::move(*key)});
  }
  return out;
}

}  // namespace twostep::factors::yubico_otp
