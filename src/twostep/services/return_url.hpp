// Where a browser goes back to after signing in. nginx's auth_request sends a browser without
// a session to the sign-in page with the page it wanted as `rd`; only addresses within the
// configured domain (the host of server.public_url, or sessions.cookie_domain and its
// subdomains) are followed, so the sign-in page is never an open redirect.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "twostep/core/config.hpp"

namespace twostep::services {

// `url` when it is safe to send a signed-in browser to: a path on this server ("/account",
// not "//host"), or an absolute http(s) URL whose host is the public host or within the
// cookie domain (https only when public_url is https). No user-info, backslashes, control
// characters or whitespace; at most 2048 bytes. nullopt otherwise.
std::optional<std::string> safe_return_url(const core::Config& cfg, std::string_view url);

// The sign-in page, with `rd` (percent-encoded) when it is safe: "<public_url>/login?rd=...".
std::string signin_url(const core::Config& cfg, std::string_view rd);

}  // namespace twostep::services
