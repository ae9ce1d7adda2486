// The command line's view of the security log: --since, table and JSON Lines output, and what
// happens to text that clients chose.
#include "twostep/cli/audit_log.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "twostep/services/audit.hpp"

namespace twostep::cli {
namespace {

constexpr int64_t kNow = 1'795'946'400;  // 2026-11-29T10:00:00Z

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

store::AuditEvent entry(int64_t user_id, const std::string& username, const std::string& event,
                        const std::string& detail) {
  store::AuditEvent e;
  e.id = 7;
  e.user_id = user_id;
  e.username = username;
  e.at = kNow;
  e.event = event;
  e.ip = "2001:db8::1";
  e.user_agent = "curl/8";
  e.detail = detail;
  return e;
}

// What a client can put into an entry: quotes, a backslash, a newline, ESC (terminal control),
// a bidirectional override, bytes that are not UTF-8 (kept by SQLite).
const std::string kHostile = "a \"b\" \\ c\nd\x1b[31me\xE2\x80\xAE" "f\xE9\xFF";

TEST(AuditLogTest, SinceTakesUtcTimesDatesAndAges) {
  EXPECT_EQ(parse_since("2026-11-29T10:00:00Z", 0), kNow);
  EXPECT_EQ(parse_since("2026-11-29T10:00:01Z", 0), kNow + 1);
  EXPECT_EQ(parse_since("2026-11-29", 0), kNow - 10 * 3600);
  EXPECT_EQ(parse_since("1970-01-01T00:00:00Z", 0), 0);
  EXPECT_EQ(parse_since("2024-02-29", 0), 1'709'164'800);  // a leap day
  EXPECT_EQ(parse_since("45s", kNow), kNow - 45);
  EXPECT_EQ(parse_since("30m", kNow), kNow - 1800);
  EXPECT_EQ(parse_since("1h", kNow), kNow - 3600);
  EXPECT_EQ(parse_since("7d", kNow), kNow - 7 * 86400);
  EXPECT_EQ(parse_since("2w", kNow), kNow - 14 * 86400);
  EXPECT_EQ(parse_since("0h", kNow), kNow);
  EXPECT_EQ(parse_since("999999999w", kNow), 0);  // before 1970: from the start
}

TEST(AuditLogTest, SinceRefusesEverythingElse) {
  for (const char* bad :
       {"", "h", "1", "10", "1x", "1H", "-1h", "+1h", "1.5h", " 1h", "1h ", "1 h", "9999999999d",
        "2026-11-29 10:00:00", "2026-11-29T10:00:00", "2026-11-29T10:00Z", "2026-11-29t10:00:00z",
        "2026-11-29T10:00:00+01:00", "2026-02-30", "2026-13-01", "2026-00-10", "2026-11-29T24:00:00Z",
        "2026-11-29T10:60:00Z", "2026-11-29T10:00:60Z", "1969-12-31", "2O26-11-29", "yesterday",
        "2026-1-29", "20261129"}) {
    EXPECT_FALSE(parse_since(bad, kNow).has_value()) << bad;
  }
}

TEST(AuditLogTest, EventNamesAreSnakeCase) {
  EXPECT_TRUE(is_event_name("login_failed"));
  EXPECT_TRUE(is_event_name("master_key_rotated"));
  EXPECT_TRUE(is_event_name("x2"));
  for (const char* bad : {"", "Login_failed", "login failed", "login-failed", "login_failed\n",
                          "\xC3\xA9v\xC3\xA9nement"}) {
    EXPECT_FALSE(is_event_name(bad)) << bad;
  }
  EXPECT_TRUE(is_event_name(std::string(64, 'a')));
  EXPECT_FALSE(is_event_name(std::string(65, 'a')));
}

TEST(AuditLogTest, TableAlignsColumnsAndShowsDetailAsKeyValue) {
  std::ostringstream out;
  print_audit_table(out,
                    {entry(0, "", "master_key_rotated", R"({"key_id":"2","previous_key_id":"1"})"),
                     entry(12, "alice", "login_failed", R"({"username":"alice","reason":"password"})"),
                     entry(3, "", "login_succeeded", "{}")},
                    /*with_user=*/true);
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 4u) << out.str();
  EXPECT_EQ(lines[0],
            "TIME                  USER   EVENT               ADDRESS      DETAIL");
  EXPECT_EQ(lines[1],
            "2026-11-29T10:00:00Z  -      master_key_rotated  2001:db8::1  key_id=2 previous_key_id=1");
  EXPECT_EQ(lines[2],
            "2026-11-29T10:00:00Z  alice  login_failed        2001:db8::1  username=alice reason=password");
  EXPECT_EQ(lines[3],
            "2026-11-29T10:00:00Z  -      login_succeeded     2001:db8::1  -");
}

TEST(AuditLogTest, TableOfOneUserHasNoUserColumn) {
  std::ostringstream out;
  auto e = entry(12, "", "login_failed", R"({"reason":"password"})");
  e.ip.clear();
  print_audit_table(out, {e}, /*with_user=*/false);
  EXPECT_EQ(out.str(),
            "TIME                  EVENT         ADDRESS  DETAIL\n"
            "2026-11-29T10:00:00Z  login_failed  -        reason=password\n");
}

TEST(AuditLogTest, ClientTextInTheTableStaysOnItsLineAndCannotDriveTheTerminal) {
  // As the audit service stores it (SQLite keeps the bytes that are not UTF-8).
  const std::string detail = services::json_object({{"username", kHostile}});
  std::ostringstream out;
  print_audit_table(out, {entry(0, "", "login_failed", detail)}, /*with_user=*/true);
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos);
  EXPECT_EQ(out.str().find("\xE2\x80\xAE"), std::string::npos);
  const std::string shown = R"(username="a \"b\" \\ c\nd\x1b[31me\u202ef)"
                            "\xEF\xBF\xBD\xEF\xBF\xBD\"";
  EXPECT_EQ(lines[1].substr(lines[1].size() - shown.size()), shown) << lines[1];
}

TEST(AuditLogTest, JsonLineIsOneAsciiLineThatParsesBack) {
  auto e = entry(0, "", "login_failed", R"({"username":"al\nice","reason":"password"})");
  e.user_agent = kHostile;
  std::string line = audit_json_line(e);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << line;
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["at"], kNow);
  EXPECT_EQ(j["time"], "2026-11-29T10:00:00Z");
  EXPECT_EQ(j["user_id"], 0);
  EXPECT_TRUE(j["user"].is_null());
  EXPECT_EQ(j["event"], "login_failed");
  EXPECT_EQ(j["ip"], "2001:db8::1");
  EXPECT_EQ(j["user_agent"],
            "a \"b\" \\ c\nd\x1b[31me\xE2\x80\xAE" "f\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD each
  EXPECT_EQ(j["detail"], (nlohmann::json{{"username", "al\nice"}, {"reason", "password"}}));

  auto named = entry(12, "alice", "login_succeeded", "not json");
  auto k = nlohmann::json::parse(audit_json_line(named));
  EXPECT_EQ(k["user"], "alice");
  EXPECT_EQ(k["user_id"], 12);
  EXPECT_EQ(k["detail"], "not json");  // kept as text rather than lost
}

TEST(AuditLogTest, DetailWithBytesThatAreNotUtf8IsKept) {
  // A typed username cut at 64 bytes mid-character reaches SQLite as is.
  auto e = entry(0, "", "login_failed", "{\"username\":\"caf\xC3\"}");
  auto j = nlohmann::json::parse(audit_json_line(e));
  EXPECT_EQ(j["detail"]["username"], "caf\xEF\xBF\xBD");
  std::ostringstream out;
  print_audit_table(out, {e}, true);
  EXPECT_NE(out.str().find("username=caf\xEF\xBF\xBD\n"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace twostep::cli
