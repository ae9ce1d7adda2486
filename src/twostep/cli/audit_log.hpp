// The security log as the command line shows it (`twostep audit` for the whole site, `twostep
// user audit NAME` for one account): aligned columns for people, JSON Lines for log collectors.
// Entries hold text that clients chose (the User-Agent header, the username typed into a failed
// sign-in); it is made valid UTF-8 first, and in text it can neither end a line nor send
// control sequences to the terminal.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/text.hpp"
#include "twostep/store/store.hpp"

namespace twostep::cli {

// --since: a UTC time "2026-11-29T10:00:00Z", a UTC date "2026-11-29" (its midnight), or an age
// counted back from `now`: a number and a unit s, m, h, d or w ("90m", "1h", "7d"). The Unix
// time it names, or nullopt when the text is none of these (or an impossible date).
std::optional<int64_t> parse_since(std::string_view text, int64_t now);
inline constexpr const char* kSinceHelp =
    "a UTC time like 2026-11-29T10:00:00Z, a date like 2026-11-29, or an age like 30m, 1h, 7d";

using core::is_event_name;  // --event (core/text.hpp)

// "2026-11-29T10:00:05Z".
std::string utc_time(int64_t t);

// One line per entry, newest first as given: TIME, USER (when `with_user`; "-" for entries of
// no account), EVENT, ADDRESS, DETAIL (key=value ...), under a header line, columns aligned.
void print_audit_table(std::ostream& out, const std::vector<store::AuditEvent>& events,
                       bool with_user);

// One JSON object on one line (no newline; pure ASCII): id, at (Unix time), time (UTC),
// user_id, user (null for entries of no account), event, ip, user_agent, detail (the object).
std::string audit_json_line(const store::AuditEvent& e);

}  // namespace twostep::cli
