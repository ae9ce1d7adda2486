#include "twostep/core/text.hpp"

#include <algorithm>

namespace twostep::core {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i] (as PostgreSQL checks it: no overlong
// forms, no surrogates, nothing above U+10FFFF, no NUL), or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c >= 0x01 && c < 0x80) {
    return 1;
  }
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c == 0xE0) {
    n = 3;
    lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    n = 3;
  } else if (c == 0xED) {
    n = 3;
    hi = 0x9F;
  } else if (c == 0xF0) {
    n = 4;
    lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    n = 4;
  } else if (c == 0xF4) {
    n = 4;
    hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) {
    return 0;
  }
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if (c1 < lo || c1 > hi) {
    return 0;
  }
  for (size_t k = 2; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
      return 0;
    }
  }
  return n;
}

}  // namespace

std::string display_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

Result<std::string> canonical_username(std::string_view name) {
  if (name.size() < 3 || name.size() > 64) {
    return fail(Code::kInvalidArgument, "invalid_username",
                "Usernames are 3 to 64 characters long.");
  }
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool okc = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '.' || l == '_' || l == '-';
    if (!okc) {
      return fail(Code::kInvalidArgument, "invalid_username",
                  "Usernames may only contain letters a-z, digits, '.', '_' and '-'.");
    }
    out.push_back(l);
  }
  return out;
}

bool is_event_name(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace twostep::core
