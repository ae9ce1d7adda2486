#include "twostep/http/headers.hpp"

#include <cstdint>

namespace twostep::http {

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

core::Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
  TS_ASSIGN_OR_RETURN(core::IpRanges nets,
                      core::IpRanges::parse(entries, "server.trusted_proxies"));
  TrustedProxies t;
  t.nets_ = std::move(nets);
  return t;
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
      hops.push_back(header.substr(0, comma));  // canonical_ip() ignores blanks
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
