// Who may read GET /metrics: client addresses in metrics.allow and, when metrics.token_file
// is set, only with "Authorization: Bearer <token>". Decided before anything is rendered: a
// refusal costs one address match and at most one SHA-256 — no store call, no pool slot, no
// log line — so refused scrapes cannot be used to load the server.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "twostep/core/config.hpp"
#include "twostep/core/error.hpp"
#include "twostep/core/ip.hpp"

namespace twostep::api {

class MetricsAccess {
 public:
  enum class Verdict {
    kAllowed,
    kOff,             // metrics.allow is empty
    kAddressRefused,  // the client address is not in metrics.allow
    kUntrustedProxy,  // forwarded by a proxy not in server.trusted_proxies: client unknown
    kTokenMissing,    // a token is configured; no Bearer credentials were sent
    kTokenWrong,      // Bearer credentials that are not the token
  };

  // Reads metrics.token_file once (start-up): it must exist, be a regular file that is not a
  // symbolic link and not readable by group or others, and hold one token of printable ASCII
  // (a final newline is fine). Errors name the key, never the content.
  static core::Result<MetricsAccess> load(const core::MetricsConfig& cfg);

  // `client_addr`: the address the server resolved (trusted proxies applied); `authorization`:
  // the Authorization header if any. The token is compared in constant time (as SHA-256
  // digests, so its length does not show either). `forwarded_untrusted`: the request carries
  // forwarding headers (X-Forwarded-For, Forwarded, X-Real-IP) that the server did not apply
  // because its peer is not a trusted proxy. Then the peer is a proxy whose client is unknown —
  // e.g. a local nginx missing from server.trusted_proxies, which would otherwise make every
  // outside client look like loopback — and the scrape is refused.
  Verdict check(std::string_view client_addr, std::optional<std::string_view> authorization,
                bool forwarded_untrusted = false) const;

  bool enabled() const { return !allow_.empty(); }
  bool needs_token() const { return token_sha256_.has_value(); }

 private:
  core::IpRanges allow_;
  std::optional<std::string> token_sha256_;  // raw digest; the token itself is not kept
};

}  // namespace twostep::api
