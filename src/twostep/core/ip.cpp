#include "twostep/core/ip.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace twostep::core {
namespace {

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

struct Ip {
  std::array<unsigned char, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
  bool written_v4 = false;                // "1.2.3.4" rather than IPv6 text
  bool mapped = false;                    // an IPv4 address, however written
};

// IPv4 or IPv6 text; "[::1]" as some X-Forwarded-For writers put it.
std::optional<Ip> parse_ip(std::string_view s) {
  if (s.empty() || s.size() > 63) {
    return std::nullopt;
  }
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  const std::string z(s);
  Ip ip;
  unsigned char v4[4];
  if (inet_pton(AF_INET, z.c_str(), v4) == 1) {
    ip.bytes[10] = 0xff;
    ip.bytes[11] = 0xff;
    std::memcpy(ip.bytes.data() + 12, v4, 4);
    ip.written_v4 = true;
    ip.mapped = true;
    return ip;
  }
  if (inet_pton(AF_INET6, z.c_str(), ip.bytes.data()) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    ip.mapped = std::memcmp(ip.bytes.data(), kMapped, 12) == 0;
    return ip;
  }
  return std::nullopt;
}

// "" -> -1 (no prefix); digits -> the number; anything else -> nullopt.
std::optional<int> parse_prefix(std::string_view p) {
  if (p.empty() || p.size() > 3) {
    return std::nullopt;
  }
  int v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

std::optional<std::string> canonical_ip(std::string_view s) {
  auto ip = parse_ip(trim(s));
  if (!ip) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN];
  if (ip->mapped) {
    inet_ntop(AF_INET, ip->bytes.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, ip->bytes.data(), buf, sizeof buf);
  }
  return std::string(buf);
}

Result<IpRanges> IpRanges::parse(const std::vector<std::string>& entries, std::string_view key) {
  IpRanges out;
  for (const auto& e : entries) {
    const std::string_view s = trim(e);
    const size_t slash = s.find('/');
    std::optional<int> prefix = -1;
    if (slash != std::string_view::npos) {
      prefix = parse_prefix(s.substr(slash + 1));
    }
    auto ip = parse_ip(s.substr(0, slash));
    if (!prefix || !ip) {
      return fail(Code::kInvalidArgument, "invalid_config",
                  std::string(key) + ": not an IP address or CIDR range: '" + e + "'");
    }
    const int max = ip->written_v4 ? 32 : 128;
    if (*prefix > max) {
      return fail(
          Code::kInvalidArgument, "invalid_config",
          std::string(key) + ": prefix longer than " + std::to_string(max) + " bits: '" + e + "'");
    }
    Net n;
    n.addr = ip->bytes;
    n.prefix = *prefix < 0 ? 128 : (ip->written_v4 ? *prefix + 96 : *prefix);
    out.nets_.push_back(n);
  }
  return out;
}

bool IpRanges::contains(std::string_view addr) const {
  auto ip = parse_ip(trim(addr));
  if (!ip) {
    return false;
  }
  for (const auto& n : nets_) {
    const int full = n.prefix / 8;
    const int bits = n.prefix % 8;
    if (std::memcmp(ip->bytes.data(), n.addr.data(), full) != 0) {
      continue;
    }
    if (bits != 0) {
      const auto mask = static_cast<unsigned char>(0xff << (8 - bits));
      if ((ip->bytes[full] & mask) != (n.addr[full] & mask)) {
        continue;
      }
    }
    return true;
  }
  return false;
}

}  // namespace twostep::core
