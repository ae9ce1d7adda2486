#include "twostep/factors/sms/phone.hpp"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <array>
#include <utility>

namespace twostep::factors::sms {

using core::Code;
using core::fail;
using i18n::phonenumbers::PhoneNumberUtil;

namespace {

const PhoneNumberUtil& util() { return *PhoneNumberUtil::GetInstance(); }

bool is_region_code(std::string_view r) {
  return r.size() == 2 &&
         std::all_of(r.begin(), r.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// What people type: digits and the usual separators. Letters (vanity numbers), other scripts'
// digits and anything else are refused before libphonenumber sees them.
bool plausible_characters(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == ' ' || c == '+' || c == '-' || c == '(' || c == ')' ||
           c == '.' || c == '/';
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

const char* type_description(PhoneNumberUtil::PhoneNumberType t) {
  switch (t) {
    case PhoneNumberUtil::FIXED_LINE:
      return "a fixed-line number";
    case PhoneNumberUtil::TOLL_FREE:
      return "a toll-free number";
    case PhoneNumberUtil::PREMIUM_RATE:
      return "a premium-rate number";
    case PhoneNumberUtil::SHARED_COST:
      return "a shared-cost number";
    case PhoneNumberUtil::VOIP:
      return "an internet (VoIP) number";
    case PhoneNumberUtil::PERSONAL_NUMBER:
      return "a personal forwarding number";
    case PhoneNumberUtil::PAGER:
      return "a pager number";
    case PhoneNumberUtil::UAN:
      return "a company (UAN) number";
    case PhoneNumberUtil::VOICEMAIL:
      return "a voicemail number";
    default:
      return "not a mobile number";
  }
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 44> kRegionNames{{
    {"AD", "Andorra"},      {"AT", "Austria"},
    {"AU", "Australia"},    {"BE", "Belgium"},
    {"BG", "Bulgaria"},     {"CA", "Canada"},
    {"CH", "Switzerland"},  {"CY", "Cyprus"},
    {"CZ", "Czechia"},      {"DE", "Germany"},
    {"DK", "Denmark"},      {"EE", "Estonia"},
    {"ES", "Spain"},        {"FI", "Finland"},
    {"FR", "France"},       {"GB", "the United Kingdom"},
    {"GR", "Greece"},       {"HR", "Croatia"},
    {"HU", "Hungary"},      {"IE", "Ireland"},
    {"IS", "Iceland"},      {"IT", "Italy"},
    {"JP", "Japan"},        {"LI", "Liechtenstein"},
    {"LT", "Lithuania"},    {"LU", "Luxembourg"},
    {"LV", "Latvia"},       {"MC", "Monaco"},
    {"MT", "Malta"},        {"NL", "the Netherlands"},
    {"NO", "Norway"},       {"NZ", "New Zealand"},
    {"PL", "Poland"},       {"PT", "Portugal"},
    {"RO", "Romania"},      {"SE", "Sweden"},
    {"SI", "Slovenia"},     {"SK", "Slovakia"},
    {"SM", "San Marino"},   {"TR", "Türkiye"},
    {"UA", "Ukraine"},      {"US", "the United States"},
    {"VA", "Vatican City"}, {"ZA", "South Africa"},
}};

}  // namespace

std::string region_name(std::string_view region) {
  for (const auto& [code, name] : kRegionNames) {
    if (code == region) return std::string(name);
  }
  return std::string(region);
}

std::string region_list(const std::vector<std::string>& regions) {
  std::string out;
  for (size_t i = 0; i < regions.size(); ++i) {
    if (i > 0) out += i + 1 == regions.size() ? " or " : ", ";
    out += region_name(regions[i]);
  }
  return out;
}

int calling_code(std::string_view region) {
  if (!is_region_code(region)) return 0;
  return util().GetCountryCodeForRegion(std::string(region));
}

core::Status check_regions(const std::vector<std::string>& regions) {
  if (regions.empty()) {
    return fail(Code::kInvalidArgument, "invalid_config",
                "sms.allowed_regions: list at least one region, e.g. [\"CH\"]");
  }
  for (size_t i = 0; i < regions.size(); ++i) {
    const std::string& r = regions[i];
    if (!is_region_code(r) || calling_code(r) == 0) {
      return fail(
          Code::kInvalidArgument, "invalid_config",
          "sms.allowed_regions: '" + r +
              "' is not an ISO 3166 region code libphonenumber knows (upper case, e.g. CH)");
    }
    if (std::find(regions.begin(), regions.begin() + static_cast<long>(i), r) !=
        regions.begin() + static_cast<long>(i)) {
      return fail(Code::kInvalidArgument, "invalid_config",
                  "sms.allowed_regions: '" + r + "' is listed twice");
    }
  }
  return core::ok();
}

std::string mask_international(std::string_view international) {
  // Keep "+CC " (up to the first space) and the last two digits; every other digit becomes •.
  size_t keep_prefix = international.find(' ');
  if (keep_prefix == std::string_view::npos) keep_prefix = 0;
  size_t digits_after = 0;
  for (size_t i = keep_prefix; i < international.size(); ++i) {
    if (international[i] >= '0' && international[i] <= '9') ++digits_after;
  }
  std::string out(international.substr(0, keep_prefix));
  size_t seen = 0;
  for (size_t i = keep_prefix; i < international.size(); ++i) {
    char c = international[i];
    if (c >= '0' && c <= '9') {
      ++seen;
      if (seen + 2 > digits_after) {
        out += c;
      } else {
        out += "\u2022";
      }
    } else {
      out += c;
    }
  }
  return out;
}

core::Result<PhoneNumber> parse_phone(std::string_view input, std::string_view region_hint,
                                      const std::vector<std::string>& allowed) {
  const std::string hint = upper(trim(region_hint));
  if (!hint.empty() && (!is_region_code(hint) || calling_code(hint) == 0)) {
    return fail(Code::kInvalidArgument, "invalid_request",
                "region: expected a two-letter country code such as CH.");
  }
  std::string_view text = trim(input);
  auto invalid = [](const char* why) { return fail(Code::kInvalidArgument, "invalid_phone", why); };
  if (text.empty() || text.size() > kMaxPhoneInput || !plausible_characters(text)) {
    return invalid(
        "That is not a phone number. Enter it with the country code, e.g. +41 79 123 45 67.");
  }
  std::string number(text);
  if (hint.empty() && number.rfind("00", 0) == 0) number.replace(0, 2, "+");
  if (hint.empty() && number.front() != '+') {
    return invalid(
        "Enter the number with its country code (e.g. +41 79 123 45 67), or choose the country.");
  }

  i18n::phonenumbers::PhoneNumber parsed;
  if (util().Parse(number, hint.empty() ? "ZZ" : hint, &parsed) !=
          PhoneNumberUtil::NO_PARSING_ERROR ||
      !util().IsValidNumber(parsed)) {
    return invalid("That is not a valid phone number. Check the digits and the country code.");
  }
  PhoneNumber out;
  util().GetRegionCodeForNumber(parsed, &out.region);
  if (std::find(allowed.begin(), allowed.end(), out.region) == allowed.end()) {
    return fail(Code::kInvalidArgument, "sms_region_not_allowed",
                "Codes by SMS can only be sent to mobile numbers in " + region_list(allowed) + ".");
  }
  auto type = util().GetNumberType(parsed);
  if (type != PhoneNumberUtil::MOBILE && type != PhoneNumberUtil::FIXED_LINE_OR_MOBILE) {
    return fail(Code::kInvalidArgument, "sms_not_mobile",
                std::string("This is ") + type_description(type) +
                    ". Codes by SMS can only be sent to a mobile phone number.");
  }
  util().Format(parsed, PhoneNumberUtil::E164, &out.e164);
  util().Format(parsed, PhoneNumberUtil::INTERNATIONAL, &out.international);
  out.masked = mask_international(out.international);
  return out;
}

}  // namespace twostep::factors::sms
