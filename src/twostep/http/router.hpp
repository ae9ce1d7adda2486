// Routes by method and path pattern ("/api/v1/sessions/{id}"). Decides 404 and 405 (with an
// Allow header) in one place. Patterns without parameters are found through a hash map;
// the others by a scan in registration order.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "twostep/http/message.hpp"

namespace twostep::http {

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);
  // Handler for GET/HEAD paths that match no route (static files). Optional.
  void set_fallback(Handler handler);

  static constexpr std::size_t kNoRoute = static_cast<std::size_t>(-1);

  struct Match {
    const Handler* handler = nullptr;  // null: see status
    std::string_view pattern;          // the route's pattern ("fallback"); valid with the router
    std::map<std::string, std::string> params;
    int status = 200;   // 200 matched, 404 no such path, 405 path exists with other methods
    std::string allow;  // for 405: "GET, POST"
    // Position of the matched route in registration order (for per-route state such as
    // metrics, see pattern()); kNoRoute for the fallback and when nothing matched.
    std::size_t index = kNoRoute;
  };
  Match match(std::string_view method, std::string_view path) const;

  // Routes in registration order.
  std::size_t size() const { return routes_.size(); }
  const std::string& pattern(std::size_t index) const { return routes_.at(index).pattern; }

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<Route> routes_;
  // Pattern without parameters -> its routes (one per method), in registration order.
  std::unordered_map<std::string, std::vector<std::size_t>, Hash, std::equal_to<>> literal_;
  Handler fallback_;
};

}  // namespace twostep::http
