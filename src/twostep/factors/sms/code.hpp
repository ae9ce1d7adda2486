// SMS codes: generation, the forms people may type, and the text of the message. Pure
// functions (randomness from libsodium); the codes are stored only as keyed hashes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace twostep::factors::sms {

inline constexpr int kCodeDigits = 6;

// A uniformly random 6-digit code ("004217").
std::string generate_code();

// Accepts "123456", "123 456", "123-456"; anything else (other lengths, letters, non-ASCII
// digits) is nullopt.
std::optional<std::string> normalize_code(std::string_view input);

// The message text. The last line "@host #code" is the origin-bound format browsers read for
// one-tap autofill (WebOTP) and that tells people which site the code is for; it is left
// out when `host` is empty.
std::string message_text(std::string_view code, std::string_view service, std::string_view host,
                         int ttl_s);

}  // namespace twostep::factors::sms
