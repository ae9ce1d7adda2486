#include "twostep/api/static_files.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "twostep/api/json.hpp"

namespace twostep::api {
namespace fs = std::filesystem;

namespace {
http::Response not_found() {
  return json_response(404, json{{"error", "not_found"}, {"message", "Not found."}});
}

bool read_file(const fs::path& p, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}
}  // namespace

std::string content_type_for(const std::string& path) {
  auto ext = fs::path(path).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".json") return "application/json";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  if (ext == ".woff2") return "font/woff2";
  return "application/octet-stream";
}

StaticFiles::StaticFiles(std::string root) {
  if (root.empty()) return;
  std::error_code ec;
  auto canon = fs::weakly_canonical(root, ec);
  if (!ec && fs::is_directory(canon, ec)) root_ = canon.string();
}

http::Response StaticFiles::serve(const http::Request& req) const {
  const std::string& path = req.path;
  if (path.rfind("/api/", 0) == 0 || path.find('\0') != std::string::npos) return not_found();
  // Only plain segments: no "..", no hidden files, no backslashes.
  std::string rel = path == "/" ? "index.html" : path.substr(1);
  std::istringstream segs(rel);
  std::string seg;
  while (std::getline(segs, seg, '/')) {
    if (seg.empty() || seg[0] == '.' || seg.find('\\') != std::string::npos) {
      if (!(seg.empty() && rel.back() == '/')) return not_found();
    }
  }
  fs::path file = fs::path(root_) / rel;
  std::error_code ec;
  bool has_ext = fs::path(rel).has_extension();
  if (!has_ext || !fs::is_regular_file(file, ec)) {
    if (has_ext) return not_found();
    file = fs::path(root_) / "index.html";  // client-side route
  }
  std::string body;
  if (!read_file(file, &body)) return not_found();
  auto r = http::Response::text(200, std::move(body), content_type_for(file.string()));
  r.set("Cache-Control", file.extension() == ".html" ? "no-cache" : "public, max-age=300");
  return r;
}

}  // namespace twostep::api
