// Recovery codes: the way back in when every other method is lost. Each is shown once,
// stored only as a keyed hash (crypto::keyed_hash_hex of the canonical form) and works once.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace twostep::factors {

// count codes (none if count <= 0), all different: 16 random characters from the RFC 4648
// base32 alphabet in lower case (80 bits), shown as "xxxx-xxxx-xxxx-xxxx".
std::vector<std::string> generate_recovery_codes(int count = 10);

// What a person typed, to the canonical 16-character form that is hashed: dashes and spaces
// removed, lower-cased; nullopt unless exactly 16 base32 characters remain.
std::optional<std::string> normalize_recovery_code(std::string_view input);

}  // namespace twostep::factors
