#include "twostep/cli/cli.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "twostep/app/app.hpp"
#include "twostep/core/config.hpp"
#include "twostep/core/secret.hpp"

namespace twostep::cli {
namespace {

const services::Client kCliClient{"cli", "twostep-cli"};

int fatal(const std::string& what) {
  std::cerr << "twostep: " << what << "\n";
  return 1;
}

core::Result<core::Config> load(const std::string& config_file) {
  std::optional<std::string> file;
  if (!config_file.empty()) file = config_file;
  return core::load_config(file, core::twostep_environment());
}

// Reads a password: the first line of stdin (--password-stdin), or twice from the terminal
// without echo.
std::optional<core::Secret> read_password(bool from_stdin) {
  std::string line;
  if (from_stdin || !isatty(STDIN_FILENO)) {
    if (!std::getline(std::cin, line)) return std::nullopt;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return core::Secret(std::move(line));
  }
  termios old{};
  tcgetattr(STDIN_FILENO, &old);
  termios noecho = old;
  noecho.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  auto ask = [&](const char* prompt, std::string* out) {
    std::cerr << prompt << std::flush;
    tcsetattr(STDIN_FILENO, TCSANOW, &noecho);
    bool ok = static_cast<bool>(std::getline(std::cin, *out));
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
    return ok;
  };
  std::string again;
  if (!ask("Password: ", &line) || !ask("Password (again): ", &again)) return std::nullopt;
  if (line != again) {
    core::secure_zero(line.data(), line.size());
    core::secure_zero(again.data(), again.size());
    std::cerr << "twostep: the passwords do not match\n";
    return std::nullopt;
  }
  core::secure_zero(again.data(), again.size());
  return core::Secret(std::move(line));
}

std::string format_time(int64_t t) {
  if (t == 0) return "never";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App cli{"twostep: an account server with two-step verification"};
  cli.require_subcommand(1);
  std::string config_file;
  cli.add_option("-c,--config", config_file, "TOML configuration file")->check(CLI::ExistingFile);

  auto* serve = cli.add_subcommand("serve", "Run the HTTP server");
  serve->add_option("--config", config_file, "TOML configuration file")->check(CLI::ExistingFile);
  auto* migrate = cli.add_subcommand("migrate", "Create or upgrade the database schema");
  auto* version = cli.add_subcommand("version", "Print the version");

  auto* user = cli.add_subcommand("user", "Manage user accounts");
  user->require_subcommand(1);
  std::string name;
  bool password_stdin = false;
  auto* user_add = user->add_subcommand("add", "Create a user");
  user_add->add_option("NAME", name, "Username")->required();
  user_add->add_flag("--password-stdin", password_stdin, "Read the password from standard input");
  auto* user_list = user->add_subcommand("list", "List users");
  auto* user_disable = user->add_subcommand("disable", "Disable a user and end their sessions");
  user_disable->add_option("NAME", name, "Username")->required();
  auto* user_enable = user->add_subcommand("enable", "Enable a disabled user");
  user_enable->add_option("NAME", name, "Username")->required();
  auto* user_passwd = user->add_subcommand("passwd", "Set a user's password (ends their sessions)");
  user_passwd->add_option("NAME", name, "Username")->required();
  user_passwd->add_flag("--password-stdin", password_stdin, "Read the password from standard input");

  auto* apppw = cli.add_subcommand("app-password", "Manage a user's application passwords");
  apppw->require_subcommand(1);
  int64_t apppw_id = 0;
  auto* apppw_list = apppw->add_subcommand("list", "List a user's application passwords");
  apppw_list->add_option("NAME", name, "Username")->required();
  auto* apppw_revoke =
      apppw->add_subcommand("revoke", "Revoke one of a user's application passwords");
  apppw_revoke->add_option("NAME", name, "Username")->required();
  apppw_revoke->add_option("ID", apppw_id, "Application password id (from list)")->required();

  CLI11_PARSE(cli, argc, argv);

  if (version->parsed()) {
    std::cout << "twostep " << TWOSTEP_VERSION << "\n";
    return 0;
  }
  auto config = load(config_file);
  if (!config) return fatal(config.error().message);
  auto app = app::App::open(std::move(*config));
  if (!app) return fatal(app.error().message + (app.error().detail.empty() ? "" : ": " + app.error().detail));

  if (serve->parsed()) return (*app)->serve();
  if (migrate->parsed()) {
    std::cout << "database schema is up to date\n";
    return 0;
  }
  auto& accounts = (*app)->accounts();
  if (user_add->parsed() || user_passwd->parsed()) {
    auto pw = read_password(password_stdin);
    if (!pw) return fatal("no password given");
    core::Status st;
    if (user_add->parsed()) {
      auto u = accounts.create(name, pw->view(), kCliClient, "cli");
      if (!u) return fatal(u.error().message);
      std::cout << "created user " << u->username << " (id " << u->id << ")\n";
    } else {
      st = accounts.set_password(name, pw->view(), kCliClient);
      if (!st) return fatal(st.error().code == core::Code::kNotFound ? "no such user" : st.error().message);
      std::cout << "password changed; the user's sessions have ended\n";
    }
    return 0;
  }
  if (user_list->parsed()) {
    auto users = accounts.list();
    if (!users) return fatal(users.error().message);
    std::printf("%-6s %-32s %-8s %-6s %-22s %s\n", "ID", "USERNAME", "STATUS", "2FA", "CREATED", "LAST SIGN-IN");
    for (const auto& u : *users) {
      auto on = (*app)->twofa().enabled(u.id);
      std::printf("%-6lld %-32s %-8s %-6s %-22s %s\n", static_cast<long long>(u.id), u.username.c_str(),
                  u.disabled ? "disabled" : "active", on && *on ? "on" : "off",
                  format_time(u.created_at).c_str(), format_time(u.last_login_at).c_str());
    }
    return 0;
  }
  if (apppw_list->parsed() || apppw_revoke->parsed()) {
    auto user = (*app)->store().user_by_name(name);
    if (!user) return fatal("no such user");
    if (apppw_revoke->parsed()) {
      auto st = (*app)->app_passwords().revoke(*user, apppw_id, kCliClient);
      if (!st) return fatal(st.error().message);
      std::cout << "revoked application password " << apppw_id << " of " << user->username << "\n";
      return 0;
    }
    auto list = (*app)->app_passwords().list(user->id);
    if (!list) return fatal(list.error().message);
    std::printf("%-6s %-32s %-10s %-22s %s\n", "ID", "NAME", "SCOPES", "CREATED", "LAST USED");
    for (const auto& p : *list) {
      std::string used = format_time(p.last_used_at);
      if (!p.last_used_ip.empty()) used += " from " + p.last_used_ip;
      std::printf("%-6lld %-32s %-10s %-22s %s\n", static_cast<long long>(p.id), p.name.c_str(),
                  p.scopes.c_str(), format_time(p.created_at).c_str(), used.c_str());
    }
    return 0;
  }
  if (user_disable->parsed() || user_enable->parsed()) {
    bool disable = user_disable->parsed();
    auto st = accounts.set_disabled(name, disable, kCliClient);
    if (!st) return fatal(st.error().code == core::Code::kNotFound ? "no such user" : st.error().message);
    std::cout << (disable ? "disabled " : "enabled ") << name << "\n";
    return 0;
  }
  return 0;
}

}  // namespace twostep::cli
