// Text taken from clients as is (User-Agent header, the username typed into a failed sign-in)
// and shown to people later: in the JSON API, the CLI's audit log, PostgreSQL's TEXT columns.
#pragma once

#include <string>
#include <string_view>

#include "twostep/core/error.hpp"

namespace twostep::core {

// `s` as valid UTF-8 (as PostgreSQL checks it: no overlong forms, no surrogates, nothing above
// U+10FFFF, no NUL): every byte that does not belong to a well-formed sequence becomes U+FFFD.
// SQLite keeps any bytes and PostgreSQL's TEXT refuses such bytes; rather than failing a sign-in
// over a strange User-Agent, the PostgreSQL store stores this, and readers show the same.
std::string display_text(std::string_view s);

// A username as accounts store it: lower-cased, 3..64 of [a-z0-9._-]; kInvalidArgument
// "invalid_username" otherwise.
Result<std::string> canonical_username(std::string_view name);

// What audit event names look like (snake_case, 1 to 64 characters).
bool is_event_name(std::string_view text);

}  // namespace twostep::core
