// IP addresses and CIDR ranges as configuration lists them (server.trusted_proxies,
// metrics.allow): one parser and one matcher, so every list means the same thing. IPv4 is kept
// as IPv4-mapped IPv6, so "10.0.0.0/8" also matches "::ffff:10.1.2.3" and "::/0" matches every
// address.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/core/error.hpp"

namespace twostep::core {

// Canonical text of an IP address ("::ffff:1.2.3.4" -> "1.2.3.4", "[::1]" -> "::1"); nullopt
// if not one. Surrounding blanks are ignored.
std::optional<std::string> canonical_ip(std::string_view s);

class IpRanges {
 public:
  // Entries are addresses ("127.0.0.1", "::1") or ranges ("10.0.0.0/8", "fd00::/8"); a prefix
  // counts in the family the address is written in ("::ffff:0:0/96" is IPv6). Errors are
  // kInvalidArgument "invalid_config" naming `key` and the entry.
  static Result<IpRanges> parse(const std::vector<std::string>& entries, std::string_view key);

  // False for anything that is not an IP address.
  bool contains(std::string_view addr) const;
  bool empty() const { return nets_.empty(); }

 private:
  struct Net {
    std::array<unsigned char, 16> addr{};  // IPv4 as IPv4-mapped IPv6
    int prefix = 128;                      // in bits of the 16 bytes
  };
  std::vector<Net> nets_;
};

}  // namespace twostep::core
