// Phone numbers for SMS codes (libphonenumber): parsing E.164 or national input with a region
// hint, the rules for where a code may be sent (allowed regions, mobile numbers only) and the
// masked form shown to people. Pure functions: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/error.hpp"

namespace twostep::factors::sms {

struct PhoneNumber {
  std::string e164;           // "+41791234567": what the gateway receives
  std::string region;         // ISO 3166 region of the number: "CH"
  std::string international;  // "+41 79 123 45 67"
  std::string masked;         // "+41 •• ••• •• 67": what people see
};

// Longest accepted input; E.164 numbers have at most 15 digits, this leaves room for spaces.
inline constexpr std::size_t kMaxPhoneInput = 32;

// Parses `input` ("+41 79 123 45 67", "0041 79 …", or "079 123 45 67" with region_hint "CH")
// and applies the rules. Errors (Code::kInvalidArgument):
//   invalid_request        — region_hint is not a known two-letter region
//   invalid_phone          — not a possible, valid number (or characters other than digits,
//                            spaces and + - ( ) . /)
//   sms_region_not_allowed — valid, but of a region not in `allowed` (the message names them)
//   sms_not_mobile         — valid and allowed, but not a mobile number (fixed line, premium
//                            rate, toll free, VoIP, ...). FIXED_LINE_OR_MOBILE (regions whose
//                            plan cannot tell) counts as mobile.
core::Result<PhoneNumber> parse_phone(std::string_view input, std::string_view region_hint,
                                      const std::vector<std::string>& allowed);

// "+41 79 123 45 67" → "+41 •• ••• •• 67": keeps the country code and the last two digits.
std::string mask_international(std::string_view international);

// Checks a configured list of regions (sms.allowed_regions): non-empty, every entry a region
// libphonenumber knows ("CH"), no duplicates. The error names the bad entry.
core::Status check_regions(const std::vector<std::string>& regions);

// The country calling code of a region ("CH" → 41); 0 when unknown.
int calling_code(std::string_view region);

// An English name for a region ("CH" → "Switzerland"); the code itself when not in the table.
std::string region_name(std::string_view region);

// "Switzerland, France, Belgium or Germany".
std::string region_list(const std::vector<std::string>& regions);

}  // namespace twostep::factors::sms
