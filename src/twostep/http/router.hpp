// Routes by method and path pattern ("/api/v1/sessions/{id}"). Decides 404 and 405 (with an
// Allow header) in one place.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "twostep/http/message.hpp"

namespace twostep::http {

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);
  // Handler for GET/HEAD paths that match no route (static files). Optional.
  void set_fallback(Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: see status
    std::string pattern;
    std::map<std::string, std::string> params;
    int status = 200;   // 200 matched, 404 no such path, 405 path exists with other methods
    std::string allow;  // for 405: "GET, POST"
  };
  Match match(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
  Handler fallback_;
};

}  // namespace twostep::http
