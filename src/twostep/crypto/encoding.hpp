// Text encodings of binary data: hex (keys, hashes), base32 (TOTP secrets, as OTP apps
// expect them), base64url (tokens in cookies and URLs) and base64 (interoperating formats).
// Decoders never throw: bad input is nullopt, so callers can answer 400 without a try.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace twostep::crypto {

// Lower-case hex.
std::string hex_encode(std::string_view bytes);
// Either case; nullopt on odd length or a non-hex character.
std::optional<std::string> hex_decode(std::string_view hex);

// RFC 4648 base32, upper case, without '=' padding (the form OTP apps show and accept).
std::string base32_encode(std::string_view bytes);
// Case-insensitive; spaces and '=' are ignored because people copy secrets in groups and
// with padding. nullopt on any other character or on a length no byte string encodes to.
std::optional<std::string> base32_decode(std::string_view s);

// RFC 4648 §5 base64url, without padding.
std::string base64url_encode(std::string_view bytes);
// Accepts input with or without padding; rejects non-canonical trailing bits so a token has
// exactly one spelling.
std::optional<std::string> base64url_decode(std::string_view s);

// RFC 4648 §4 base64, padded.
std::string base64_encode(std::string_view bytes);
// Accepts input with or without padding; rejects non-canonical trailing bits.
std::optional<std::string> base64_decode(std::string_view s);

// RFC 3986 percent-encoding of a URI component: unreserved characters (A-Z a-z 0-9 - . _ ~)
// are kept, every other byte becomes %XX (upper-case hex).
std::string percent_encode(std::string_view s);
// The reverse; '+' stays '+'. nullopt on a malformed escape ("%zz", a trailing "%").
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace twostep::crypto
