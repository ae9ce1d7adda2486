#include "twostep/core/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <sstream>
#include <variant>

#include <toml++/toml.h>

#include "twostep/core/ip.hpp"
#include "twostep/core/text.hpp"

extern char** environ;

namespace twostep::core {
namespace {

using Target = std::variant<int*, uint32_t*, bool*, std::string*, std::vector<std::string>*>;

struct Binding {
  std::string section;
  std::string key;
  Target target;
  std::string env_name() const {
    std::string n = "TWOSTEP_" + section + "_" + key;
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::toupper(c); });
    return n;
  }
};

std::vector<Binding> bindings(Config& c) {
  return {
      {"server", "listen", &c.server.listen},
      {"server", "public_url", &c.server.public_url},
      {"server", "trusted_proxies", &c.server.trusted_proxies},
      {"server", "threads", &c.server.threads},
      {"server", "max_connections", &c.server.max_connections},
      {"server", "read_timeout_s", &c.server.read_timeout_s},
      {"server", "idle_timeout_s", &c.server.idle_timeout_s},
      {"server", "body_limit", &c.server.body_limit},
      {"server", "header_limit", &c.server.header_limit},
      {"server", "shutdown_grace_s", &c.server.shutdown_grace_s},
      {"server", "heartbeat_s", &c.server.heartbeat_s},
      {"server", "web_dir", &c.server.web_dir},
      {"server", "log_level", &c.server.log_level},
      {"database", "url", &c.database.url},
      {"database", "pool_size", &c.database.pool_size},
      {"security", "master_key_file", &c.security.master_key_file},
      {"security", "argon2_memory_kib", &c.security.argon2_memory_kib},
      {"security", "argon2_iterations", &c.security.argon2_iterations},
      {"security", "hash_threads", &c.security.hash_threads},
      {"security", "hash_queue", &c.security.hash_queue},
      {"security", "db_threads", &c.security.db_threads},
      {"security", "db_queue", &c.security.db_queue},
      {"accounts", "open_signup", &c.accounts.open_signup},
      {"accounts", "password_min_length", &c.accounts.password_min_length},
      {"accounts", "password_max_length", &c.accounts.password_max_length},
      {"accounts", "password_min_score", &c.accounts.password_min_score},
      {"orgs", "user_create", &c.orgs.user_create},
      {"accounts", "protocol_main_password", &c.accounts.protocol_main_password},
      {"sessions", "cookie_domain", &c.sessions.cookie_domain},
      {"sessions", "remember_days", &c.sessions.remember_days},
      {"sessions", "idle_timeout_s", &c.sessions.idle_timeout_s},
      {"sessions", "absolute_timeout_days", &c.sessions.absolute_timeout_days},
      {"sessions", "pending_timeout_s", &c.sessions.pending_timeout_s},
      {"sessions", "reauth_window_s", &c.sessions.reauth_window_s},
      {"sessions", "verify_cache_ms", &c.sessions.verify_cache_ms},
      {"rate_limit", "login_account_max", &c.rate_limit.login_account_max},
      {"rate_limit", "login_account_window_s", &c.rate_limit.login_account_window_s},
      {"rate_limit", "login_account_lock_s", &c.rate_limit.login_account_lock_s},
      {"rate_limit", "login_ip_max", &c.rate_limit.login_ip_max},
      {"rate_limit", "login_ip_window_s", &c.rate_limit.login_ip_window_s},
      {"rate_limit", "login_ip_lock_s", &c.rate_limit.login_ip_lock_s},
      {"rate_limit", "second_factor_pending_max", &c.rate_limit.second_factor_pending_max},
      {"rate_limit", "second_factor_account_max", &c.rate_limit.second_factor_account_max},
      {"rate_limit", "second_factor_window_s", &c.rate_limit.second_factor_window_s},
      {"rate_limit", "second_factor_lock_s", &c.rate_limit.second_factor_lock_s},
      {"rate_limit", "signup_ip_max", &c.rate_limit.signup_ip_max},
      {"rate_limit", "signup_ip_window_s", &c.rate_limit.signup_ip_window_s},
      {"totp", "issuer", &c.totp.issuer},
      {"totp", "window", &c.totp.window},
      {"totp", "unconfirmed_ttl_s", &c.totp.unconfirmed_ttl_s},
      {"sms", "allowed_regions", &c.sms.allowed_regions},
      {"sms", "gateway", &c.sms.gateway},
      {"sms", "http_url", &c.sms.http_url},
      {"sms", "twilio_base_url", &c.sms.twilio_base_url},
      {"sms", "http_headers", &c.sms.http_headers},
      {"sms", "http_body", &c.sms.http_body},
      {"sms", "twilio_account_sid", &c.sms.twilio_account_sid},
      {"sms", "twilio_auth_token", &c.sms.twilio_auth_token},
      {"sms", "twilio_from", &c.sms.twilio_from},
      {"sms", "twilio_messaging_service_sid", &c.sms.twilio_messaging_service_sid},
      {"sms", "connect_timeout_ms", &c.sms.connect_timeout_ms},
      {"sms", "timeout_ms", &c.sms.timeout_ms},
      {"sms", "retries", &c.sms.retries},
      {"sms", "threads", &c.sms.threads},
      {"sms", "queue", &c.sms.queue},
      {"sms", "code_ttl_s", &c.sms.code_ttl_s},
      {"sms", "max_attempts", &c.sms.max_attempts},
      {"sms", "resend_cooldown_s", &c.sms.resend_cooldown_s},
      {"sms", "user_daily_max", &c.sms.user_daily_max},
      {"sms", "number_daily_max", &c.sms.number_daily_max},
      {"sms", "ip_daily_max", &c.sms.ip_daily_max},
      {"sms", "region_daily_budget", &c.sms.region_daily_budget},
      {"sms", "region_budgets", &c.sms.region_budgets},
      {"webauthn", "origins", &c.webauthn.origins},
      {"webauthn", "rp_name", &c.webauthn.rp_name},
      {"webauthn", "user_verification", &c.webauthn.user_verification},
      {"webauthn", "attestation", &c.webauthn.attestation},
      {"push", "approval_ttl_s", &c.push.approval_ttl_s},
      {"push", "enrollment_ttl_s", &c.push.enrollment_ttl_s},
      {"push", "max_requests", &c.push.max_requests},
      {"push", "request_window_s", &c.push.request_window_s},
      {"push", "max_clock_skew_s", &c.push.max_clock_skew_s},
      {"push", "heartbeat_s", &c.push.heartbeat_s},
      {"metrics", "allow", &c.metrics.allow},
      {"metrics", "token_file", &c.metrics.token_file},
      {"admin", "users", &c.admin.users},
  };
}

Error bad(const std::string& where, const std::string& what) {
  return Error{Code::kInvalidArgument, "invalid_config", where + ": " + what, {}, 0};
}

template <class Int>
Status parse_int(const std::string& where, std::string_view text, Int* out) {
  long long v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return tl::unexpected(bad(where, "expected an integer, got '" + std::string(text) + "'"));
  }
  if (v < 0 || v > 2'000'000'000LL) {
    return tl::unexpected(bad(where, "out of range"));
  }
  *out = static_cast<Int>(v);
  return {};
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == ',' || ch == ' ' || ch == '[' || ch == ']' || ch == '"' || ch == '\'') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

Status apply_env(const Binding& b, const std::string& value) {
  const std::string where = b.env_name();
  return std::visit(
      [&](auto* t) -> Status {
        using T = std::remove_pointer_t<decltype(t)>;
        if constexpr (std::is_same_v<T, int> || std::is_same_v<T, uint32_t>) {
          return parse_int(where, value, t);
        } else if constexpr (std::is_same_v<T, bool>) {
          if (value == "true" || value == "1" || value == "yes" || value == "on") {
            *t = true;
          } else if (value == "false" || value == "0" || value == "no" || value == "off") {
            *t = false;
          } else {
            return tl::unexpected(bad(where, "expected true or false"));
          }
          return {};
        } else if constexpr (std::is_same_v<T, std::string>) {
          *t = value;
          return {};
        } else if (!value.empty() && value.front() == '[') {
          // A TOML array keeps items with spaces or commas ("Authorization: Bearer x").
          toml::table tbl;
          try {
            tbl = toml::parse("v = " + value);
          } catch (const toml::parse_error&) {
            *t = split_list(value);  // ["CH", BE] and other loose forms
            return {};
          }
          const auto* arr = tbl["v"].as_array();
          t->clear();
          for (const auto& el : *arr) {
            if (!el.is_string()) return tl::unexpected(bad(where, "expected an array of strings"));
            t->push_back(*el.value<std::string>());
          }
          return {};
        } else {
          *t = split_list(value);
          return {};
        }
      },
      b.target);
}

Status apply_toml(const Binding& b, const toml::node& node) {
  const std::string where = b.section + "." + b.key;
  return std::visit(
      [&](auto* t) -> Status {
        using T = std::remove_pointer_t<decltype(t)>;
        if constexpr (std::is_same_v<T, int> || std::is_same_v<T, uint32_t>) {
          auto v = node.value<int64_t>();
          if (!node.is_integer() || !v) return tl::unexpected(bad(where, "expected an integer"));
          if (*v < 0 || *v > 2'000'000'000LL) return tl::unexpected(bad(where, "out of range"));
          *t = static_cast<T>(*v);
          return {};
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!node.is_boolean()) return tl::unexpected(bad(where, "expected true or false"));
          *t = *node.value<bool>();
          return {};
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (!node.is_string()) return tl::unexpected(bad(where, "expected a string"));
          *t = *node.value<std::string>();
          return {};
        } else {
          const auto* arr = node.as_array();
          if (!arr) return tl::unexpected(bad(where, "expected an array of strings"));
          t->clear();
          for (const auto& el : *arr) {
            if (!el.is_string()) return tl::unexpected(bad(where, "expected an array of strings"));
            t->push_back(*el.value<std::string>());
          }
          return {};
        }
      },
      b.target);
}

// [admin] users as accounts store them (lower case); a name no account could have is an error.
Status canonicalise_admins(AdminConfig& admin) {
  for (auto& name : admin.users) {
    auto canonical = canonical_username(name);
    if (!canonical) return tl::unexpected(bad("admin.users", "'" + name + "': " + canonical.error().message));
    name = std::move(*canonical);
  }
  std::sort(admin.users.begin(), admin.users.end());
  admin.users.erase(std::unique(admin.users.begin(), admin.users.end()), admin.users.end());
  return {};
}

Status validate(const Config& c) {
  if (c.server.public_url.rfind("http://", 0) != 0 && c.server.public_url.rfind("https://", 0) != 0) {
    return tl::unexpected(bad("server.public_url", "must start with http:// or https://"));
  }
  if (c.server.listen.find(':') == std::string::npos) {
    return tl::unexpected(bad("server.listen", "expected ADDRESS:PORT"));
  }
  if (c.security.argon2_memory_kib < 8 || c.security.argon2_iterations < 1) {
    return tl::unexpected(bad("security.argon2_*", "cost too low"));
  }
  if (c.server.heartbeat_s < 1 || c.server.heartbeat_s > 3600) {
    return tl::unexpected(bad("server.heartbeat_s", "must be 1..3600 seconds"));
  }
  if (c.server.body_limit < 1024 || c.server.header_limit < 1024) {
    return tl::unexpected(bad("server.*_limit", "must be at least 1024 bytes"));
  }
  const auto& uv = c.webauthn.user_verification;
  if (uv != "required" && uv != "preferred" && uv != "discouraged") {
    return tl::unexpected(
        bad("webauthn.user_verification", "expected required, preferred or discouraged"));
  }
  const auto& att = c.webauthn.attestation;
  if (att != "none" && att != "indirect" && att != "direct") {
    return tl::unexpected(bad("webauthn.attestation", "expected none, indirect or direct"));
  }
  if (c.webauthn.rp_name.empty() || c.webauthn.rp_name.size() > 64) {
    return tl::unexpected(bad("webauthn.rp_name", "1 to 64 characters"));
  }
  if (c.accounts.password_min_score > 4) {
    return tl::unexpected(bad("accounts.password_min_score", "must be 0..4"));
  }
  if (c.push.approval_ttl_s < 1 || c.push.enrollment_ttl_s < 1 || c.push.max_requests < 1 ||
      c.push.request_window_s < 1 || c.push.max_clock_skew_s < 1 || c.push.heartbeat_s < 1) {
    return tl::unexpected(bad("push.*", "must be at least 1"));
  }
  // Address lists are checked here, so that a typo stops every command, not only `serve`.
  TS_RETURN_IF_ERROR(IpRanges::parse(c.server.trusted_proxies, "server.trusted_proxies"));
  TS_RETURN_IF_ERROR(IpRanges::parse(c.metrics.allow, "metrics.allow"));
  return {};
}

constexpr std::string_view kRedacted = "<redacted>";

bool icontains(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) ==
                                                    std::tolower(static_cast<unsigned char>(b)); });
  return it != haystack.end();
}

// URL query parameters whose values are credentials (libpq's password=, gateway API keys).
bool secret_parameter(std::string_view name) {
  for (std::string_view word : {"password", "token", "secret", "key"}) {
    if (icontains(name, word)) return true;
  }
  return false;
}

// What `config show` prints for one value: secrets are replaced, the rest as configured.
std::string shown_string(const Binding& b, const std::string& value) {
  if (value.empty()) return value;
  if (b.key == "twilio_auth_token") return std::string(kRedacted);
  if (b.key == "url" || (b.key.size() > 4 && b.key.substr(b.key.size() - 4) == "_url")) {
    return redact_url(value);
  }
  if (b.key == "http_headers") {  // "Name: value": the values carry the gateway credentials
    auto colon = value.find(':');
    return colon == std::string::npos ? std::string(kRedacted)
                                      : value.substr(0, colon + 1) + " " + std::string(kRedacted);
  }
  return value;
}

}  // namespace

std::string redact_url(std::string_view url) {
  std::string out(url);
  const auto scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    const auto authority = scheme_end + 3;
    const auto authority_end = out.find_first_of("/?#", authority);
    const auto at = out.rfind('@', authority_end == std::string::npos ? out.npos : authority_end);
    if (at != std::string::npos && at > authority) {
      const auto colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, kRedacted);
      }
    }
  }
  // Parameters: ?a=1&password=x#fragment. Replaced from the last one back, so that the
  // positions of the earlier ones stay valid.
  const auto query = out.find('?');
  if (query == std::string::npos) return out;
  const auto query_end = std::min(out.find('#', query), out.size());
  std::vector<std::pair<size_t, size_t>> values;  // [begin, end) of secret values
  for (size_t begin = query + 1; begin <= query_end;) {
    const auto end = std::min(out.find('&', begin), query_end);
    const auto eq = out.find('=', begin);
    if (eq < end && secret_parameter(std::string_view(out).substr(begin, eq - begin))) {
      values.emplace_back(eq + 1, end);
    }
    begin = end + 1;
  }
  for (auto it = values.rbegin(); it != values.rend(); ++it) {
    out.replace(it->first, it->second - it->first, kRedacted);
  }
  return out;
}

std::string config_toml(const Config& config) {
  Config copy = config;  // bindings() needs pointers; only read through them
  const auto bs = bindings(copy);
  std::vector<std::string> sections;  // in the order of first appearance
  for (const auto& b : bs) {
    if (std::find(sections.begin(), sections.end(), b.section) == sections.end()) {
      sections.push_back(b.section);
    }
  }
  std::ostringstream out;
  out << "# twostep's effective configuration (file, TWOSTEP_<SECTION>_<KEY> environment and\n"
         "# defaults); secrets are shown as \"<redacted>\".\n";
  for (const auto& section : sections) {
    out << "\n[" << section << "]\n";
    for (const auto& b : bs) {
      if (b.section != section) continue;
      out << b.key << " = ";
      std::visit(
          [&](auto* t) {
            using T = std::remove_pointer_t<decltype(t)>;
            if constexpr (std::is_same_v<T, std::string>) {
              out << toml::value<std::string>(shown_string(b, *t));
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
              toml::array arr;
              for (const auto& item : *t) arr.push_back(shown_string(b, item));
              out << arr;
            } else if constexpr (std::is_same_v<T, bool>) {
              out << (*t ? "true" : "false");
            } else {
              out << *t;
            }
          },
          b.target);
      out << "\n";
    }
  }
  return out.str();
}

bool Config::site_admin(std::string_view username) const {
  return std::binary_search(admin.users.begin(), admin.users.end(), username);
}

bool Config::https() const { return server.public_url.rfind("https://", 0) == 0; }

Result<Config> load_config(const std::optional<std::string>& file,
                           const std::map<std::string, std::string>& env) {
  Config c;
  auto bs = bindings(c);
  if (file) {
    toml::table tbl;
    try {
      tbl = toml::parse_file(*file);
    } catch (const toml::parse_error& e) {
      std::string msg(e.description());
      const auto& src = e.source();
      return tl::unexpected(bad(*file, msg + " (line " + std::to_string(src.begin.line) + ")"));
    }
    for (const auto& [section, node] : tbl) {
      const auto* sect = node.as_table();
      if (!sect) {
        return tl::unexpected(bad(*file, "'" + std::string(section.str()) + "' is not a section"));
      }
      for (const auto& [key, value] : *sect) {
        // Named copies: clang before 16 cannot capture structured bindings (the fuzz preset).
        std::string_view section_name = section.str();
        std::string_view key_name = key.str();
        auto it = std::find_if(bs.begin(), bs.end(), [&](const Binding& b) {
          return b.section == section_name && b.key == key_name;
        });
        if (it == bs.end()) {
          return tl::unexpected(bad(*file, "unknown key " + std::string(section.str()) + "." +
                                               std::string(key.str())));
        }
        TS_RETURN_IF_ERROR(apply_toml(*it, value));
      }
    }
  }
  for (const auto& entry : env) {
    const std::string& name = entry.first;
    const std::string& value = entry.second;
    if (name.rfind("TWOSTEP_", 0) != 0) continue;
    auto it = std::find_if(bs.begin(), bs.end(),
                           [&](const Binding& b) { return b.env_name() == name; });
    if (it == bs.end()) continue;  // other TWOSTEP_ variables (tools, tests) are not ours
    TS_RETURN_IF_ERROR(apply_env(*it, value));
  }
  TS_RETURN_IF_ERROR(canonicalise_admins(c.admin));
  TS_RETURN_IF_ERROR(validate(c));
  return c;
}

std::map<std::string, std::string> twostep_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("TWOSTEP_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

}  // namespace twostep::core
