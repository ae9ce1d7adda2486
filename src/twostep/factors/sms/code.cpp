#include "twostep/factors/sms/code.hpp"

#include <cstdio>

#include "twostep/crypto/random.hpp"

namespace twostep::factors::sms {

std::string generate_code() {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06u", crypto::random_uniform(1'000'000));
  return buf;
}

std::optional<std::string> normalize_code(std::string_view input) {
  std::string digits;
  for (char c : input) {
    if (c == ' ' || c == '-') continue;
    if (c < '0' || c > '9') return std::nullopt;
    digits.push_back(c);
    if (digits.size() > static_cast<size_t>(kCodeDigits)) return std::nullopt;
  }
  if (digits.size() != static_cast<size_t>(kCodeDigits)) return std::nullopt;
  return digits;
}

std::string message_text(std::string_view code, std::string_view service, std::string_view host,
                         int ttl_s) {
  int minutes = (ttl_s + 59) / 60;
  std::string text(code);
  text += " is your ";
  text += service;
  text += " verification code. It expires in " + std::to_string(minutes) +
          (minutes == 1 ? " minute" : " minutes") + ". Never share it with anyone.";
  if (!host.empty()) {
    text += "\n\n@";
    text += host;
    text += " #";
    text += code;
  }
  return text;
}

}  // namespace twostep::factors::sms
