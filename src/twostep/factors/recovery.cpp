#include "twostep/factors/recovery.hpp"

#include <algorithm>

#include "twostep/crypto/random.hpp"

namespace twostep::factors {
namespace {

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::size_t kChars = 16;
constexpr std::size_t kGroup = 4;

bool in_alphabet(char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); }

std::string one_code() {
  // 32 divides 256, so masking a random byte to 5 bits is unbiased.
  const std::string raw = crypto::random_bytes(kChars);
  std::string code;
  code.reserve(kChars + kChars / kGroup - 1);
  for (std::size_t i = 0; i < kChars; ++i) {
    if (i > 0 && i % kGroup == 0) code.push_back('-');
    code.push_back(kAlphabet[static_cast<unsigned char>(raw[i]) & 31]);
  }
  return code;
}

}  // namespace

std::vector<std::string> generate_recovery_codes(int count) {
  std::vector<std::string> codes;
  if (count <= 0) return codes;
  codes.reserve(static_cast<std::size_t>(count));
  while (codes.size() < static_cast<std::size_t>(count)) {
    std::string code = one_code();
    // A repeat is astronomically unlikely, but two equal codes would be one code.
    if (std::find(codes.begin(), codes.end(), code) == codes.end()) {
      codes.push_back(std::move(code));
    }
  }
  return codes;
}

std::optional<std::string> normalize_recovery_code(std::string_view input) {
  std::string out;
  out.reserve(kChars);
  for (char c : input) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (!in_alphabet(c) || out.size() == kChars) return std::nullopt;
    out.push_back(c);
  }
  if (out.size() != kChars) return std::nullopt;
  return out;
}

}  // namespace twostep::factors
