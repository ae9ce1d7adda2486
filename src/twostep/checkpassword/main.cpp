// twostep-checkpassword: Dovecot's checkpassword interface (passdb { driver = checkpassword })
// in front of twostep. Reads "username\0password\0" from fd 3, asks the server's
// POST /api/v1/app-auth, and on success runs the reply program it was given (Dovecot's
// checkpassword-reply) with USER set to the canonical username.
//
// Exit codes (the checkpassword convention): 1 wrong password or refused (Dovecot answers
// "Authentication failed"), 2 misused (no reply program, unreadable fd 3), 111 temporary
// failure (server unreachable, overloaded, account locked: "Temporary authentication failure").
//
// Configuration: --url URL or TWOSTEP_CHECKPASSWORD_URL (default http://127.0.0.1:8080),
// --timeout SECONDS (default 10), --service NAME (default: Dovecot's SERVICE, else imap).
// Dovecot passes the client's address as TCPREMOTEIP; it is sent as X-Forwarded-For so that the
// server's per-address rate limit sees the mail client, not Dovecot (list Dovecot's address in
// server.trusted_proxies).
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitMisused = 2;
constexpr int kExitTemporary = 111;
constexpr size_t kMaxInput = 512;  // the checkpassword interface's limit

void wipe(std::string& s) {
  volatile char* p = s.data();
  for (size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

int usage() {
  std::fprintf(stderr,
               "usage: twostep-checkpassword [--url URL] [--timeout SECONDS] [--service NAME] "
               "REPLY-PROGRAM [ARGS...]\n"
               "Reads \"username\\0password\\0\" from fd 3 (Dovecot's checkpassword interface) "
               "and asks twostep (TWOSTEP_CHECKPASSWORD_URL, default http://127.0.0.1:8080).\n");
  return kExitMisused;
}

struct Options {
  std::string url;
  long timeout_s = 10;
  std::string service;
  std::vector<char*> reply;  // the program to run on success, with its arguments
};

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  const char* env_url = std::getenv("TWOSTEP_CHECKPASSWORD_URL");
  o.url = env_url && *env_url ? env_url : "http://127.0.0.1:8080";
  const char* env_service = std::getenv("SERVICE");
  o.service = env_service && *env_service ? env_service : "imap";
  int i = 1;
  auto value = [&](std::string_view arg, std::string_view name) -> std::optional<std::string> {
    if (arg.rfind(std::string(name) + "=", 0) == 0) return std::string(arg.substr(name.size() + 1));
    if (arg == name && i + 1 < argc) return std::string(argv[++i]);
    return std::nullopt;
  };
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.rfind("--", 0) != 0) break;
    if (arg == "--") {
      ++i;
      break;
    }
    if (auto v = value(arg, "--url")) {
      o.url = *v;
    } else if (auto t = value(arg, "--timeout")) {
      o.timeout_s = std::strtol(t->c_str(), nullptr, 10);
      if (o.timeout_s < 1 || o.timeout_s > 300) return std::nullopt;
    } else if (auto s = value(arg, "--service")) {
      o.service = *s;
    } else {
      return std::nullopt;
    }
  }
  for (; i < argc; ++i) o.reply.push_back(argv[i]);
  if (o.reply.empty()) return std::nullopt;
  o.reply.push_back(nullptr);
  while (!o.url.empty() && o.url.back() == '/') o.url.pop_back();
  return o;
}

// Reads fd 3 to EOF (at most kMaxInput bytes) and splits "username\0password\0...".
std::optional<std::pair<std::string, std::string>> read_credentials() {
  std::string in;
  char buf[kMaxInput];
  while (in.size() < kMaxInput) {
    ssize_t n = read(3, buf, kMaxInput - in.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  std::memset(buf, 0, sizeof buf);
  close(3);
  size_t a = in.find('\0');
  size_t b = a == std::string::npos ? a : in.find('\0', a + 1);
  std::optional<std::pair<std::string, std::string>> out;
  if (b != std::string::npos) out.emplace(in.substr(0, a), in.substr(a + 1, b - a - 1));
  wipe(in);
  return out;
}

// Only an address, so that nothing else can be smuggled into the header.
std::optional<std::string> client_address() {
  const char* ip = std::getenv("TCPREMOTEIP");
  if (!ip || !*ip || std::strlen(ip) > 45) return std::nullopt;
  for (const char* p = ip; *p; ++p) {
    if (!std::isxdigit(static_cast<unsigned char>(*p)) && *p != '.' && *p != ':') {
      return std::nullopt;
    }
  }
  return std::string(ip);
}

size_t collect(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (s->size() + size * n > 64 * 1024) return 0;  // a reply this big is not twostep's
  s->append(data, size * n);
  return size * n;
}

struct Answer {
  long status = 0;
  std::string body;
  std::string error;  // transport error, if any
};

Answer ask(const Options& o, const std::string& json_body) {
  Answer a;
  CURL* curl = curl_easy_init();
  if (!curl) {
    a.error = "cannot initialise libcurl";
    return a;
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: application/json");
  if (auto ip = client_address()) {
    headers = curl_slist_append(headers, ("X-Forwarded-For: " + *ip).c_str());
  }
  const std::string url = o.url + "/api/v1/app-auth";
  const std::string agent = "twostep-checkpassword/" TWOSTEP_VERSION " (" + o.service + ")";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, std::min(5L, o.timeout_s));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, o.timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    a.error = curl_easy_strerror(rc);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return a;
}

// For log lines: printable ASCII only, at most 64 characters (a username is untrusted input).
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

std::string field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = parse_args(argc, argv);
  if (!opts) return usage();
  if (std::getenv("AUTHORIZED") != nullptr || std::getenv("CREDENTIALS_LOOKUP") != nullptr) {
    // A userdb or credentials lookup: twostep checks passwords only and never reveals them.
    std::fprintf(stderr,
                 "twostep-checkpassword: only password checks are supported (use a static "
                 "userdb and plaintext mechanisms)\n");
    return kExitRefused;
  }
  auto creds = read_credentials();
  if (!creds) {
    std::fprintf(stderr, "twostep-checkpassword: expected \"username\\0password\\0\" on fd 3\n");
    return kExitMisused;
  }
  auto& [username, password] = *creds;
  if (username.empty() || password.empty()) return kExitRefused;

  std::string body;
  try {
    body =
        nlohmann::json{{"username", username}, {"password", password}, {"service", opts->service}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (...) {
    return kExitRefused;
  }
  wipe(password);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Answer a = ask(*opts, body);
  wipe(body);
  if (!a.error.empty()) {
    std::fprintf(stderr, "twostep-checkpassword: cannot reach %s: %s\n", opts->url.c_str(),
                 a.error.c_str());
    return kExitTemporary;
  }
  nlohmann::json j = nlohmann::json::parse(a.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) j = nlohmann::json::object();
  if (a.status == 200) {
    std::string canonical = field(j, "user");
    if (canonical.empty()) canonical = username;
    // Dovecot takes a changed USER as the canonical login name.
    if (setenv("USER", canonical.c_str(), 1) != 0) return kExitTemporary;
    execvp(opts->reply[0], opts->reply.data());
    std::fprintf(stderr, "twostep-checkpassword: cannot run %s: %s\n", opts->reply[0],
                 std::strerror(errno));
    return kExitTemporary;
  }
  // The server's reason helps the administrator (Dovecot logs stderr); no secrets in it.
  std::fprintf(stderr, "twostep-checkpassword: %s: HTTP %ld %s\n", printable(username).c_str(),
               a.status, printable(field(j, "error")).c_str());
  if (a.status == 400 || a.status == 401 || a.status == 403) return kExitRefused;
  return kExitTemporary;  // 429 locked, 5xx, anything unexpected
}
