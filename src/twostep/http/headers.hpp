// Response headers every answer carries (security policy, Server), and the client address
// behind trusted reverse proxies. One place for both, so that a policy change is one edit.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twostep/core/error.hpp"
#include "twostep/core/ip.hpp"
#include "twostep/http/message.hpp"

namespace twostep::http {

// The security headers, in the order they are sent.
const std::vector<std::pair<std::string_view, std::string_view>>& security_headers();

inline constexpr std::string_view kHstsValue = "max-age=31536000; includeSubDomains";
inline constexpr std::string_view kServerName = "twostep";

// Adds every security header the handler did not set itself (a handler may deliberately
// override one, e.g. Cache-Control for static files); Cache-Control defaults to no-store.
// Strict-Transport-Security only when `hsts`.
void apply_security_headers(Response& res, bool hsts);
// The same headers as text ("Name: value\r\n" each) appended to `out`, for the server's own
// serialiser: a response that overrides none of them (the usual case) gets one block
// serialised once at start-up.
void append_security_headers(const Response& res, bool hsts, std::string& out);

// Addresses (or CIDR ranges such as 10.0.0.0/8) of reverse proxies whose X-Forwarded-For is
// believed.
class TrustedProxies {
 public:
  static core::Result<TrustedProxies> parse(const std::vector<std::string>& entries);

  bool contains(std::string_view addr) const { return nets_.contains(addr); }
  // The client's address: the peer itself unless the peer is a trusted proxy; then the
  // right-most X-Forwarded-For address that is not itself a trusted proxy (values of all
  // X-Forwarded-For headers, in order). Garbage in the header falls back to the peer.
  std::string client_address(std::string_view peer,
                             const std::vector<std::string_view>& forwarded_for) const;
  bool empty() const { return nets_.empty(); }

 private:
  core::IpRanges nets_;
};

using core::canonical_ip;

}  // namespace twostep::http
