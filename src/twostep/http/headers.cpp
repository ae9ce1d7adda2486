#include "twostep/http/headers.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace twostep::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Parses IPv4 or IPv6 text into 16 bytes (IPv4 as ::ffff:a.b.c.d).
bool parse_ip(std::string_view s, std::array<unsigned char, 16>* out, bool* is_v4) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  // "[::1]" as in some X-Forwarded-For writers.
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  std::string z(s);
  unsigned char v4[4];
  if (inet_pton(AF_INET, z.c_str(), v4) == 1) {
    out->fill(0);
    (*out)[10] = 0xff;
    (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, v4, 4);
    *is_v4 = true;
    return true;
  }
  if (inet_pton(AF_INET6, z.c_str(), out->data()) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    *is_v4 = std::memcmp(out->data(), kMapped, 12) == 0;
    return true;
  }
  return false;
}

std::string ip_text(const std::array<unsigned char, 16>& a, bool is_v4) {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4) {
    inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  }
  return buf;
}

}  // namespace

const std::vector<std::pair<std::string_view, std::string_view>>& security_headers() {
  static const std::vector<std::pair<std::string_view, std::string_view>> kHeaders = {
      {"Content-Security-Policy",
       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cache-Control", "no-store"},
  };
  return kHeaders;
}

namespace {

constexpr std::string_view kHstsName = "Strict-Transport-Security";

// Bit i: the handler set security_headers()[i]; the bit after them: it set HSTS.
uint32_t set_by_handler(const Response& res) {
  const auto& headers = security_headers();
  uint32_t mask = 0;
  for (const auto& h : res.headers) {
    for (size_t i = 0; i < headers.size(); ++i) {
      if (iequals(h.first, headers[i].first)) {
        mask |= 1u << i;
      }
    }
    if (iequals(h.first, kHstsName)) {
      mask |= 1u << headers.size();
    }
  }
  return mask;
}

}  // namespace

void apply_security_headers(Response& res, bool hsts) {
  const auto& headers = security_headers();
  const uint32_t set = set_by_handler(res);
  for (size_t i = 0; i < headers.size(); ++i) {
    if ((set & (1u << i)) == 0) {
      res.add(std::string(headers[i].first), std::string(headers[i].second));
    }
  }
  if (hsts && (set & (1u << headers.size())) == 0) {
    res.add(std::string(kHstsName), std::string(kHstsValue));
  }
}

void append_security_headers(const Response& res, bool hsts, std::string& out) {
  struct Text {
    std::vector<std::string> lines;
    std::string block;  // all lines
    std::string hsts;
  };
  static const Text text = [] {
    Text t;
    for (const auto& [name, value] : security_headers()) {
      t.lines.push_back(std::string(name) + ": " + std::string(value) + "\r\n");
      t.block += t.lines.back();
    }
    t.hsts = std::string(kHstsName) + ": " + std::string(kHstsValue) + "\r\n";
    return t;
  }();
  const uint32_t set = set_by_handler(res);
  if ((set & ((1u << text.lines.size()) - 1)) == 0) {
    out += text.block;
  } else {
    for (size_t i = 0; i < text.lines.size(); ++i) {
      if ((set & (1u << i)) == 0) {
        out += text.lines[i];
      }
    }
  }
  if (hsts && (set & (1u << text.lines.size())) == 0) {
    out += text.hsts;
  }
}

std::optional<std::string> canonical_ip(std::string_view s) {
  std::array<unsigned char, 16> a;
  bool v4 = false;
  if (!parse_ip(trim(s), &a, &v4)) {
    return std::nullopt;
  }
  return ip_text(a, v4);
}

core::Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
  TrustedProxies t;
  for (const auto& e : entries) {
    std::string_view s = trim(e);
    std::string_view addr = s;
    int prefix = -1;
    if (size_t slash = s.find('/'); slash != std::string_view::npos) {
      addr = s.substr(0, slash);
      std::string_view p = s.substr(slash + 1);
      prefix = 0;
      if (p.empty() || p.size() > 3) {
        prefix = -2;
      }
      for (char c : p) {
        if (c < '0' || c > '9') {
          prefix = -2;
          break;
        }
        prefix = prefix * 10 + (c - '0');
      }
    }
    Net n;
    bool v4 = false;
    if (prefix == -2 || !parse_ip(addr, &n.addr, &v4)) {
      return core::fail(core::Code::kInvalidArgument, "invalid_config",
                        "server.trusted_proxies: not an IP address or CIDR range: " + e);
    }
    if (prefix == -1) {
      n.prefix = 128;
    } else if (v4 ? prefix > 32 : prefix > 128) {
      return core::fail(core::Code::kInvalidArgument, "invalid_config",
                        "server.trusted_proxies: prefix too long: " + e);
    } else {
      n.prefix = v4 ? prefix + 96 : prefix;
    }
    t.nets_.push_back(n);
  }
  return t;
}

bool TrustedProxies::contains(std::string_view addr) const {
  std::array<unsigned char, 16> a;
  bool v4 = false;
  if (!parse_ip(trim(addr), &a, &v4)) {
    return false;
  }
  for (const auto& n : nets_) {
    int full = n.prefix / 8;
    int bits = n.prefix % 8;
    if (std::memcmp(a.data(), n.addr.data(), full) != 0) {
      continue;
    }
    if (bits != 0) {
      unsigned char mask = static_cast<unsigned char>(0xff << (8 - bits));
      if ((a[full] & mask) != (n.addr[full] & mask)) {
        continue;
      }
    }
    return true;
  }
  return false;
}

std::string TrustedProxies::client_address(
    std::string_view peer, const std::vector<std::string_view>& forwarded_for) const {
  std::string peer_text = canonical_ip(peer).value_or(std::string(peer));
  if (forwarded_for.empty() || !contains(peer)) {
    return peer_text;
  }
  std::vector<std::string_view> hops;
  for (std::string_view header : forwarded_for) {
    for (;;) {
      size_t comma = header.find(',');
      hops.push_back(trim(header.substr(0, comma)));
      if (comma == std::string_view::npos) {
        break;
      }
      header.remove_prefix(comma + 1);
    }
  }
  // Right to left: every hop a trusted proxy added is believed, the first one that is not a
  // trusted proxy is the client. Anything left of it may be forged by the client.
  std::string last = peer_text;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    std::optional<std::string> ip = canonical_ip(*it);
    if (!ip) {
      return last;  // garbage: keep the last address we could vouch for
    }
    if (!contains(*ip)) {
      return *ip;
    }
    last = *ip;
  }
  return last;  // everything was a proxy: the left-most one
}

}  // namespace twostep::http
