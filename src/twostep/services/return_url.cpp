#include "twostep/services/return_url.hpp"

#include <algorithm>
#include <cctype>

namespace twostep::services {
namespace {

constexpr size_t kMaxUrl = 2048;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Origin {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case, without port
};

// Scheme and host of an absolute http(s) URL; nullopt for anything else or anything odd in
// the authority (user-info, an empty or strange host, a bad port).
std::optional<Origin> parse_origin(std::string_view url) {
  Origin o;
  const std::string head = lower(url.substr(0, 8));
  if (head.rfind("https://", 0) == 0) {
    o.scheme = "https";
    url.remove_prefix(8);
  } else if (head.rfind("http://", 0) == 0) {
    o.scheme = "http";
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  std::string_view authority = url.substr(0, std::min(url.find_first_of("/?#"), url.size()));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  auto valid_port = [](std::string_view p) {
    return !p.empty() && p.size() <= 5 &&
           std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string_view host = authority;
  if (authority.front() == '[') {
    // An IPv6 literal, optionally with a port.
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !valid_port(rest.substr(1)))) return std::nullopt;
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return std::nullopt;
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      if (!valid_port(authority.substr(colon + 1))) return std::nullopt;
      host = authority.substr(0, colon);
    }
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return std::nullopt;
    }
  }
  if (host.empty() || host.size() > 253) return std::nullopt;
  o.host = lower(host);
  while (!o.host.empty() && o.host.back() == '.') o.host.pop_back();  // "example.com." = same host
  if (o.host.empty()) return std::nullopt;
  return o;
}

bool within(std::string_view host, std::string_view domain) {
  while (!domain.empty() && domain.front() == '.') domain.remove_prefix(1);
  if (domain.empty()) return false;
  if (host == domain) return true;
  return host.size() > domain.size() && host.ends_with(domain) &&
         host[host.size() - domain.size() - 1] == '.';
}

std::string percent_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> safe_return_url(const core::Config& cfg, std::string_view url) {
  if (url.empty() || url.size() > kMaxUrl) return std::nullopt;
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f || c == '\\') return std::nullopt;
  }
  if (url.front() == '/') {
    // "//host" is another origin to a browser.
    if (url.size() > 1 && url[1] == '/') return std::nullopt;
    return std::string(url);
  }
  auto target = parse_origin(url);
  auto self = parse_origin(cfg.server.public_url);
  if (!target || !self) return std::nullopt;
  if (self->scheme == "https" && target->scheme != "https") return std::nullopt;
  const bool ok =
      target->host == self->host || (!cfg.sessions.cookie_domain.empty() &&
                                     within(target->host, lower(cfg.sessions.cookie_domain)));
  if (!ok) return std::nullopt;
  return std::string(url);
}

std::string signin_url(const core::Config& cfg, std::string_view rd) {
  std::string base = cfg.server.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string out = base + "/login";
  if (auto safe = safe_return_url(cfg, rd)) out += "?rd=" + percent_encode(*safe);
  return out;
}

}  // namespace twostep::services
