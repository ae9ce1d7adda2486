// libFuzzer target for what Yubico OTP parses: typed OTPs (modhex, lengths) and their
// decryption with a fixed key, and the key files personalization tools write.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "twostep/factors/yubico_otp/yubico_otp.hpp"

namespace yk = twostep::factors::yubico_otp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const std::string key(16, '\x11');
  static const std::string private_id(6, '\x22');
  if (auto otp = yk::parse_otp(in)) {
    (void)yk::decrypt_token(otp->token, key, private_id);
  }
  (void)yk::decrypt_token(in, key, private_id);
  (void)yk::parse_key_file(in);
  return 0;
}
