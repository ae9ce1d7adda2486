// A software YubiKey for tests: OTPs generated with libyubikey from a random AES key and
// private id, with the session and use counters a real key keeps.
#pragma once

#include <yubikey.h>

#include <cstring>
#include <string>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::testing {

struct SoftYubikey {
  std::string public_id;   // modhex
  std::string private_id;  // 6 bytes
  std::string aes_key;     // 16 bytes
  uint16_t session_counter = 1;
  uint8_t use = 0;

  SoftYubikey() : private_id(crypto::random_bytes(6)), aes_key(crypto::random_bytes(16)) {
    std::string raw = crypto::random_bytes(6);
    char buf[13];
    yubikey_modhex_encode(buf, raw.data(), raw.size());
    public_id.assign(buf, 12);
  }

  // A key file line in the personalization tool's "Yubico format".
  std::string csv_line(const std::string& serial = "1234567") const {
    return serial + "," + public_id + "," + crypto::hex_encode(private_id) + "," +
           crypto::hex_encode(aes_key) + ",,2026-01-01T00:00:00,";
  }

  // The OTP for explicit counters (to replay or roll back).
  std::string otp_at(uint16_t session, uint8_t use_count) const {
    yubikey_token_st tok{};
    std::memcpy(tok.uid, private_id.data(), 6);
    tok.ctr = session;
    tok.tstpl = 0x1234;
    tok.tstph = 0x56;
    tok.use = use_count;
    tok.rnd = 0xbeef;
    tok.crc = static_cast<uint16_t>(
        ~yubikey_crc16(reinterpret_cast<const uint8_t*>(&tok), sizeof tok - sizeof tok.crc));
    char out[YUBIKEY_OTP_SIZE + 1];
    yubikey_generate(&tok, reinterpret_cast<const uint8_t*>(aes_key.data()), out);
    return public_id + std::string(out, YUBIKEY_OTP_SIZE);
  }

  // The next OTP, as one touch of the key.
  std::string otp() { return otp_at(session_counter, use++); }
  void power_cycle() {
    ++session_counter;
    use = 0;
  }
};

}  // namespace twostep::testing
