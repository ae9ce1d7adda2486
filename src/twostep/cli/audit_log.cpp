#include "twostep/cli/audit_log.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "twostep/core/text.hpp"

namespace twostep::cli {
namespace {

using Json = nlohmann::ordered_json;  // keys in the order written, for people reading the lines

// The number of the `n` digits at text[pos...], or nullopt when they are not all digits.
std::optional<int> number_at(std::string_view text, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

// "2026-11-29" or "2026-11-29T10:00:00Z" as Unix time; nullopt for anything else, including
// dates that do not exist (2026-02-30) and times before 1970.
std::optional<int64_t> parse_utc(std::string_view text) {
  const bool with_time = text.size() == 20;
  if (text.size() != 10 && !with_time) return std::nullopt;
  if (text[4] != '-' || text[7] != '-') return std::nullopt;
  if (with_time && (text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z')) {
    return std::nullopt;
  }
  auto year = number_at(text, 0, 4);
  auto month = number_at(text, 5, 2);
  auto day = number_at(text, 8, 2);
  auto hour = with_time ? number_at(text, 11, 2) : 0;
  auto minute = with_time ? number_at(text, 14, 2) : 0;
  auto second = with_time ? number_at(text, 17, 2) : 0;
  if (!year || !month || !day || !hour || !minute || !second || *year < 1970) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  const std::time_t t = timegm(&tm);  // normalises out-of-range fields: compare to catch them
  std::tm back{};
  if (t < 0 || gmtime_r(&t, &back) == nullptr || back.tm_year != *year - 1900 ||
      back.tm_mon != *month - 1 || back.tm_mday != *day || back.tm_hour != *hour ||
      back.tm_min != *minute || back.tm_sec != *second) {
    return std::nullopt;
  }
  return static_cast<int64_t>(t);
}

// "90m", "7d": seconds back from `now` (not before 0).
std::optional<int64_t> parse_age(std::string_view text, int64_t now) {
  static constexpr std::array<std::pair<char, int64_t>, 5> kUnits{
      {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}}};
  if (text.size() < 2 || text.size() > 10) return std::nullopt;  // at most 9 digits: no overflow
  auto n = number_at(text, 0, text.size() - 1);
  auto unit = std::find_if(kUnits.begin(), kUnits.end(),
                           [&](const auto& u) { return u.first == text.back(); });
  if (!n || unit == kUnits.end()) return std::nullopt;
  return std::max<int64_t>(0, now - *n * unit->second);
}

// Characters shown escaped even though they are valid: C1 controls (some terminals obey them),
// the line and paragraph separators, and the bidirectional overrides that make text read
// otherwise than it is stored.
bool escaped_code_point(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// `s` (valid UTF-8) as one terminal-safe word: as it is when it holds only printable characters
// other than space, '"' and '\'; otherwise quoted, with C-style escapes for the rest.
std::string word(std::string_view s) {
  std::string out;
  bool quote = s.empty();
  char buf[12];
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"': out += "\\\""; quote = true; continue;
        case '\\': out += "\\\\"; quote = true; continue;
        case '\n': out += "\\n"; quote = true; continue;
        case '\r': out += "\\r"; quote = true; continue;
        case '\t': out += "\\t"; quote = true; continue;
        case ' ': out += ' '; quote = true; continue;
        default: break;
      }
      if (c < 0x20 || c == 0x7F) {
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
        quote = true;
      } else {
        out.push_back(static_cast<char>(c));
      }
      continue;
    }
    const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    uint32_t cp = c & (0x7F >> n);
    for (size_t k = 1; k < n && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if (escaped_code_point(cp)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
      quote = true;
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return quote ? "\"" + out + "\"" : out;
}

// The stored detail (JSON object text, valid UTF-8 on PostgreSQL but any bytes on SQLite) as a
// JSON value: the object, or the text itself if it is not one.
Json detail_json(const std::string& detail) {
  std::string text = core::display_text(detail);
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) return j;
  return Json(std::move(text));
}

// "key=value key2=value2", each a terminal-safe word; "-" when there is nothing.
std::string detail_text(const std::string& detail) {
  Json j = detail_json(detail);
  if (!j.is_object()) return word(j.get<std::string>());
  std::string out;
  for (const auto& [key, value] : j.items()) {
    if (!out.empty()) out += ' ';
    out += word(key) + "=" + word(value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out.empty() ? "-" : out;
}

// A cell of the table: "-" when empty, else a terminal-safe word.
std::string cell(const std::string& text) {
  return text.empty() ? "-" : word(core::display_text(text));
}

// Characters on screen (UTF-8 continuation bytes take no column).
size_t columns_of(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

std::optional<int64_t> parse_since(std::string_view text, int64_t now) {
  if (text.empty()) return std::nullopt;
  if (text.back() >= 'a' && text.back() <= 'z') return parse_age(text, now);
  return parse_utc(text);
}

std::string utc_time(int64_t t) {
  const auto tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void print_audit_table(std::ostream& out, const std::vector<store::AuditEvent>& events,
                       bool with_user) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(events.size() + 1);
  rows.push_back({"TIME", "USER", "EVENT", "ADDRESS", "DETAIL"});
  for (const auto& e : events) {
    rows.push_back({utc_time(e.at), cell(e.username), cell(e.event), cell(e.ip),
                    detail_text(e.detail)});
  }
  if (!with_user) {
    for (auto& row : rows) row.erase(row.begin() + 1);
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], columns_of(row[i]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i + 1 < row.size(); ++i) {
      line += row[i];
      line.append(widths[i] - columns_of(row[i]) + 2, ' ');
    }
    out << line << row.back() << '\n';
  }
}

std::string audit_json_line(const store::AuditEvent& e) {
  Json j;
  j["id"] = e.id;
  j["at"] = e.at;
  j["time"] = utc_time(e.at);
  j["user_id"] = e.user_id;
  j["user"] = e.username.empty() ? Json(nullptr) : Json(e.username);
  j["event"] = core::display_text(e.event);
  j["ip"] = core::display_text(e.ip);
  j["user_agent"] = core::display_text(e.user_agent);
  j["detail"] = detail_json(e.detail);
  // ensure_ascii: every character beyond ASCII as \u escapes, control characters escaped too,
  // so that the line survives any collector's idea of the encoding.
  return j.dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
}

}  // namespace twostep::cli
