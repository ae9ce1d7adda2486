#include "twostep/authenticator/accounts.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/private_file.hpp"

namespace twostep::authenticator {
namespace {

using core::Code;
using nlohmann::json;

constexpr std::size_t kMaxFile = 1 << 20;
const crypto::PrivateFileLabel kLabel{"accounts_file", "accounts file"};

core::Error bad_file(const std::string& path, const std::string& what) {
  return core::Error{
      Code::kFailedPrecondition, "accounts_file", "accounts file " + path + ": " + what, {}, 0};
}

std::string host_of(std::string_view server) {
  auto scheme = server.find("://");
  std::string_view rest = scheme == std::string_view::npos ? server : server.substr(scheme + 3);
  return std::string(rest.substr(0, rest.find('/')));
}

}  // namespace

core::Result<std::string> AccountStore::default_dir() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/twostep-auth";
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] != '/') {
    return core::fail(Code::kFailedPrecondition, "no_config_dir",
                      "Neither XDG_CONFIG_HOME nor HOME is set to an absolute path.");
  }
  return std::string(home) + "/.config/twostep-auth";
}

AccountStore::AccountStore(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

core::Result<std::vector<Account>> AccountStore::load() const {
  const std::string file = path();
  TS_ASSIGN_OR_RETURN(std::optional<core::Secret> text,
                      crypto::read_private_file(file, kMaxFile, kLabel));
  std::vector<Account> out;
  if (!text) return out;
  json j = json::parse(text->view(), nullptr, false);
  if (!j.is_object() || !j.contains("accounts") || !j["accounts"].is_array()) {
    return tl::unexpected(bad_file(file, "not a twostep-auth accounts file"));
  }
  for (const auto& a : j["accounts"]) {
    if (!a.is_object()) return tl::unexpected(bad_file(file, "an account is not an object"));
    Account acc;
    try {
      acc.name = a.at("name").get<std::string>();
      acc.server = a.at("server").get<std::string>();
      acc.account = a.at("account").get<std::string>();
      acc.issuer = a.value("issuer", "");
      acc.device_id = a.at("device_id").get<std::string>();
      acc.method_id = a.value("method_id", int64_t{0});
      acc.enrolled_at = a.value("enrolled_at", int64_t{0});
      auto sk = crypto::base64url_decode(a.at("secret_key").get<std::string>());
      auto seed = crypto::base32_decode(a.at("totp_seed").get<std::string>());
      if (!sk || sk->size() != 64 || !seed || seed->empty()) {
        return tl::unexpected(bad_file(file, "account " + acc.name + " has a damaged key or seed"));
      }
      acc.secret_key = core::Secret(std::move(*sk));
      acc.totp_seed = core::Secret(std::move(*seed));
    } catch (const json::exception&) {
      return tl::unexpected(bad_file(file, "an account misses a field"));
    }
    out.push_back(std::move(acc));
  }
  return out;
}

core::Status AccountStore::save(const std::vector<Account>& accounts) const {
  json arr = json::array();
  for (const auto& a : accounts) {
    arr.push_back(json{{"name", a.name},
                       {"server", a.server},
                       {"account", a.account},
                       {"issuer", a.issuer},
                       {"device_id", a.device_id},
                       {"method_id", a.method_id},
                       {"enrolled_at", a.enrolled_at},
                       {"secret_key", crypto::base64url_encode(a.secret_key.view())},
                       {"totp_seed", crypto::base32_encode(a.totp_seed.view())}});
  }
  core::Secret text(json{{"version", 1}, {"accounts", arr}}.dump(2) + "\n");
  // Wipe the JSON tree's copies of the secrets too.
  for (auto& a : arr) {
    for (const char* k : {"secret_key", "totp_seed"}) {
      auto& s = a[k].get_ref<std::string&>();
      core::secure_zero(s.data(), s.size());
    }
  }
  TS_ASSIGN_OR_RETURN(bool written, crypto::write_private_file(
                                        path(), text.view(), crypto::WriteMode::kReplace, kLabel));
  (void)written;
  // The directory may predate us (or have been created by hand): keep it private.
  if (::chmod(dir_.c_str(), 0700) != 0) {
    return tl::unexpected(bad_file(path(), "cannot make its directory private (chmod 700)"));
  }
  return core::ok();
}

core::Result<const Account*> select_account(const std::vector<Account>& all,
                                            std::string_view query) {
  auto names = [&] {
    std::string s;
    for (const auto& a : all) s += (s.empty() ? "" : ", ") + a.name;
    return s;
  };
  if (all.empty()) {
    return core::fail(Code::kNotFound, "no_accounts",
                      "No accounts yet: enrol one with `twostep-auth enroll URI`.");
  }
  if (query.empty()) {
    if (all.size() == 1) return &all.front();
    return core::fail(Code::kInvalidArgument, "ambiguous",
                      "Several accounts: name one of " + names() + ".");
  }
  for (const auto& a : all) {
    if (a.name == query) return &a;
  }
  const Account* found = nullptr;
  int matches = 0;
  for (const auto& a : all) {
    if (a.name.rfind(query, 0) == 0 || a.account == query) {
      found = &a;
      ++matches;
    }
  }
  if (matches == 1) return found;
  if (matches == 0) {
    return core::fail(Code::kNotFound, "no_such_account",
                      "No account \"" + std::string(query) + "\"; there are: " + names() + ".");
  }
  return core::fail(Code::kInvalidArgument, "ambiguous",
                    "\"" + std::string(query) + "\" matches several accounts: " + names() + ".");
}

std::string unique_name(const std::vector<Account>& all, std::string_view user,
                        std::string_view server) {
  const std::string base = std::string(user) + "@" + host_of(server);
  auto taken = [&](const std::string& n) {
    for (const auto& a : all) {
      if (a.name == n) return true;
    }
    return false;
  };
  std::string name = base;
  for (int i = 2; taken(name); ++i) name = base + " #" + std::to_string(i);
  return name;
}

}  // namespace twostep::authenticator
