// Serves the web UI from a folder: GET/HEAD only, no directory listing, no path escaping the
// root; client-side routes (paths without a file extension outside /api/) get index.html.
#pragma once

#include <string>

#include "twostep/http/message.hpp"

namespace twostep::api {

class StaticFiles {
 public:
  explicit StaticFiles(std::string root);
  bool enabled() const { return !root_.empty(); }
  http::Response serve(const http::Request& req) const;

 private:
  std::string root_;
};

std::string content_type_for(const std::string& path);

}  // namespace twostep::api
