#include "twostep/http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace twostep::http {
namespace {

// "/a/b" -> {"a", "b"}; "/" -> {""}; "/a/" -> {"a", ""}. Both patterns and paths.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  for (;;) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param(std::string_view segment) {
  return segment.size() >= 3 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler) {
  // Bad route tables are programming errors found at start-up.
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + pattern);
  }
  if (!handler) {
    throw std::invalid_argument("route without a handler: " + method + " " + pattern);
  }
  for (const auto& r : routes_) {
    if (r.method == method && r.pattern == pattern) {
      throw std::invalid_argument("route added twice: " + method + " " + pattern);
    }
  }
  Route route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  for (std::string_view s : split_path(route.pattern)) {
    if (!is_param(s) &&
        (s.find('{') != std::string_view::npos || s.find('}') != std::string_view::npos)) {
      throw std::invalid_argument("a parameter must be a whole segment: " + route.pattern);
    }
    route.segments.emplace_back(s);
  }
  route.handler = std::move(handler);
  const bool literal = std::none_of(route.segments.begin(), route.segments.end(),
                                    [](const std::string& s) { return is_param(s); });
  if (literal) {
    literal_[route.pattern].push_back(routes_.size());
  }
  routes_.push_back(std::move(route));
}

void Router::set_fallback(Handler handler) { fallback_ = std::move(handler); }

Router::Match Router::match(std::string_view method, std::string_view path) const {
  if (path.empty() || path.front() != '/') {
    Match m;
    m.status = 404;
    return m;
  }
  // A route without parameters that matches the whole path is the most specific one there
  // is: no need to look further.
  if (auto it = literal_.find(path); it != literal_.end()) {
    for (std::size_t i : it->second) {
      const Route& r = routes_[i];
      if (r.method == method || (method == "HEAD" && r.method == "GET")) {
        Match m;
        m.handler = &r.handler;
        m.pattern = r.pattern;
        m.index = i;
        return m;
      }
    }
  }
  const std::vector<std::string_view> parts = split_path(path);
  const Route* best = nullptr;
  std::vector<bool> best_literals;
  std::vector<std::string> allowed;

  for (const auto& r : routes_) {
    if (r.segments.size() != parts.size()) {
      continue;
    }
    std::vector<bool> literals(parts.size());
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      literals[i] = !is_param(r.segments[i]);
      ok = literals[i] ? r.segments[i] == parts[i] : !parts[i].empty();
    }
    if (!ok) {
      continue;
    }
    allowed.push_back(r.method);
    if (r.method == "GET") {
      allowed.emplace_back("HEAD");
    }
    bool method_ok = r.method == method || (method == "HEAD" && r.method == "GET");
    // The most specific route wins: a literal segment beats a parameter at the first place
    // where two patterns differ ("/methods/totp" before "/methods/{id}").
    if (method_ok && (best == nullptr || literals > best_literals)) {
      best = &r;
      best_literals = std::move(literals);
    }
  }

  Match m;
  if (best != nullptr) {
    m.handler = &best->handler;
    m.pattern = best->pattern;
    m.index = static_cast<std::size_t>(best - routes_.data());
    for (size_t i = 0; i < parts.size(); ++i) {
      if (!best_literals[i]) {
        const std::string& seg = best->segments[i];
        m.params[seg.substr(1, seg.size() - 2)] = std::string(parts[i]);
      }
    }
    return m;
  }
  if (!allowed.empty()) {
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    m.status = 405;
    for (const auto& a : allowed) {
      m.allow += (m.allow.empty() ? "" : ", ") + a;
    }
    return m;
  }
  if (fallback_ && (method == "GET" || method == "HEAD")) {
    m.handler = &fallback_;
    m.pattern = "fallback";
    return m;
  }
  m.status = 404;
  return m;
}

}  // namespace twostep::http
