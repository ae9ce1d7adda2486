#include "twostep/cli/cli.hpp"

#include <termios.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "twostep/app/app.hpp"
#include "twostep/app/config_check.hpp"
#include "twostep/cli/audit_log.hpp"
#include "twostep/core/config.hpp"
#include "twostep/core/secret.hpp"
#include "twostep/crypto/keyring.hpp"
#include "twostep/factors/sms/phone.hpp"

namespace twostep::cli {
namespace {

const services::Client kCliClient{"cli", "twostep-cli"};

int fatal(const std::string& what) {
  std::cerr << "twostep: " << what << "\n";
  return 1;
}

// The account a command-line NAME names (usernames compare case-insensitively, as at sign-in);
// an error whose message is "no such user" when there is none.
core::Result<store::User> user_named(app::App& app, const std::string& name) {
  return services::user_named(app.store(), name,
                              core::Error{core::Code::kNotFound, "not_found", "no such user", {}, 0});
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

struct OrgArgs {
  std::string org;  // id or name ("create": the new name)
  std::string user;
  std::string owner;
  std::string role;
  std::optional<bool> require_2fa;
  std::optional<int> grace_days;
};

void print_policy(const store::Org& o) {
  if (!o.require_2fa) {
    std::cout << o.name << ": two-step verification not required\n";
    return;
  }
  std::cout << o.name << ": two-step verification required, grace " << o.grace_days
            << (o.grace_days == 1 ? " day" : " days") << " (since " << format_time(o.policy_since)
            << ")\n";
}

// `twostep org ...`: the operator acts with every right (services::Actor::cli()).
int org_command(app::App& app, const std::string& what, const OrgArgs& a) {
  auto& orgs = app.orgs();
  const services::Actor op = services::Actor::cli();
  auto fail_with = [](const core::Error& e) { return fatal(e.message); };
  if (what == "create") {
    auto o = orgs.create(op, a.org, a.owner, kCliClient);
    if (!o) return fail_with(o.error());
    std::cout << "created organisation " << o->name << " (id " << o->id << ") owned by " << a.owner
              << "\n";
    return 0;
  }
  if (what == "list") {
    auto list = orgs.list();
    if (!list) return fail_with(list.error());
    std::printf("%-6s %-32s %-8s %-10s %s\n", "ID", "NAME", "MEMBERS", "2FA", "GRACE DAYS");
    for (const auto& o : *list) {
      auto members = app.store().org_members(o.id);
      std::printf("%-6lld %-32s %-8zu %-10s %d\n", static_cast<long long>(o.id), o.name.c_str(),
                  members ? members->size() : 0, o.require_2fa ? "required" : "optional",
                  o.grace_days);
    }
    return 0;
  }
  auto org = orgs.find(a.org);
  if (!org) return fail_with(org.error());
  if (what == "add") {
    auto st = orgs.add_member(op, org->id, a.user, *store::parse_org_role(a.role), kCliClient);
    if (!st) return fail_with(st.error());
    std::cout << "added " << a.user << " to " << org->name << " as " << a.role << "\n";
    return 0;
  }
  if (what == "remove") {
    auto st = orgs.remove_member(op, org->id, a.user, kCliClient);
    if (!st) return fail_with(st.error());
    std::cout << "removed " << a.user << " from " << org->name << "\n";
    return 0;
  }
  if (what == "policy") {
    if (!a.require_2fa && !a.grace_days) {
      print_policy(*org);
      return 0;
    }
    auto updated = orgs.set_policy(op, org->id, a.require_2fa.value_or(org->require_2fa),
                                   a.grace_days.value_or(org->grace_days), kCliClient);
    if (!updated) return fail_with(updated.error());
    print_policy(*updated);
    return 0;
  }
  auto view = orgs.members(op, org->id);
  if (!view) return fail_with(view.error());
  std::printf("%-32s %-7s %-5s %-16s %-22s %s\n", "USERNAME", "ROLE", "2FA", "METHODS",
              "LAST SIGN-IN", "ENROL BY");
  for (const auto& s : view->members) {
    const auto& m = s.member;
    std::string types;
    for (const auto& t : m.method_types) types += (types.empty() ? "" : ",") + t;
    std::printf("%-32s %-7s %-5s %-16s %-22s %s\n", m.username.c_str(),
                store::org_role_name(m.role), m.method_types.empty() ? "off" : "on",
                types.empty() ? "-" : types.c_str(), format_time(m.last_login_at).c_str(),
                s.enrollment_deadline > 0 ? format_time(s.enrollment_deadline).c_str() : "-");
  }
  return 0;
}

// `twostep key rotate` (kCurrent) and `twostep key add` (kStaged): adds a key to the file the
// App was opened with (which already pinned older keyed hashes to the key current until now).
// Never prints key bytes.
int key_add(app::App& app, crypto::Keyring::AddMode mode) {
  const std::string& path = app.config().security.master_key_file;
  const uint32_t before = app.keyring().current_id();
  auto id = crypto::Keyring::add_key(path, mode);
  if (!id) return fatal(id.error().message);
  const std::string new_id = std::to_string(*id);
  if (mode == crypto::Keyring::AddMode::kStaged) {
    app.audit().record(0, "master_key_added", kCliClient,
                       {{"key_id", new_id}, {"current_key_id", std::to_string(before)}});
    std::cout << "added master key " << new_id << " to " << path << " (staged: key " << before
              << " stays current).\n"
              << "1. Copy this file to every instance and restart them, in any order: each can "
                 "then read values made under key "
              << new_id << ".\n"
              << "2. Then run `twostep key use " << new_id
              << "`, copy the file again and restart every instance.\n";
    return 0;
  }
  app.audit().record(0, "master_key_rotated", kCliClient,
                     {{"key_id", new_id}, {"previous_key_id", std::to_string(before)}});
  std::cout << "added master key " << new_id << " to " << path
            << "; it is the current key from the next start.\n"
            << "Restart the instance. Keep key " << before
            << " and every older key in the file: stored values still use them (twostep key "
               "list) until `twostep key reseal` and `twostep key retire`.\n"
            << "Several instances: an instance without this key cannot use what the others make "
               "under it; use `twostep key add`, then `twostep key use`, instead.\n";
  return 0;
}

std::string describe(const store::Instance& i) {
  return i.host + " pid " + std::to_string(i.pid) + " listening on " + i.listen;
}

// `twostep instances [--all]`: the running servers (seen within 3 heartbeats) and the master
// keys each loaded; with --all also the stale rows of servers that stopped without a clean
// shutdown (killed, or cut off from the database).
int instances_command(app::App& app, bool all) {
  auto list = app.store().list_instances();
  if (!list) return fatal(list.error().message);
  const int64_t now = std::time(nullptr);
  std::printf("%-16s %-20s %-8s %-10s %-22s %-16s %-22s %s\n", "ID", "HOST", "PID", "VERSION",
              "LISTEN", "KEYS", "STARTED", "LAST SEEN");
  for (const auto& i : *list) {
    const bool live = i.live(now);
    if (!live && !all) continue;
    // The current key is marked with a star: "1,2*,3".
    std::string keys;
    for (const auto& id : i.key_list()) {
      keys += (keys.empty() ? "" : ",") + id + (id == std::to_string(i.current_key_id) ? "*" : "");
    }
    std::string seen = format_time(i.seen_at) + (live ? "" : " (stale)");
    std::printf("%-16s %-20s %-8lld %-10s %-22s %-16s %-22s %s\n", i.id.c_str(), i.host.c_str(),
                static_cast<long long>(i.pid), i.version.c_str(), i.listen.c_str(), keys.c_str(),
                format_time(i.started_at).c_str(), seen.c_str());
  }
  return 0;
}

// `twostep key use ID`: the second step after `key add`. Refuses while a live instance has not
// loaded key ID (it could not read what the others write under it), unless --force.
int key_use(app::App& app, uint32_t id, bool force) {
  const std::string& path = app.config().security.master_key_file;
  std::string missing;
  // (An id the file lacks, or the current one, is refused by use_key with its own message.)
  if (app.keyring().has(id) && id != app.keyring().current_id()) {
    auto list = app.store().list_instances();
    if (!list) return fatal(list.error().message + ". Nothing was changed.");
    const int64_t now = std::time(nullptr);
    for (const auto& i : *list) {
      if (i.live(now) && !i.has_key(id)) missing += (missing.empty() ? "" : "; ") + describe(i);
    }
  }
  if (!missing.empty() && !force) {
    return fatal("key " + std::to_string(id) + " is not loaded by every running instance: " +
                 missing +
                 ". Copy the key file there and restart it (twostep instances shows which "
                 "keys each has), or use --force. Nothing was changed.");
  }
  auto previous = crypto::Keyring::use_key(path, id);
  if (!previous) return fatal(previous.error().message);
  std::vector<std::pair<std::string, std::string>> detail = {
      {"key_id", std::to_string(id)}, {"previous_key_id", std::to_string(*previous)}};
  if (!missing.empty()) {
    detail.emplace_back("forced_without", missing);
    std::cout << "--force: these running instances have not loaded key " << id
              << " and cannot read what is made under it (503 master_key_unavailable) until "
                 "they restart with the key file: "
              << missing << "\n";
  }
  app.audit().record(0, "master_key_current", kCliClient, detail);
  std::cout << "master key " << id << " is the current key in " << path
            << " from the next start (until now: key " << *previous << ").\n"
            << "Copy this file to every instance, then restart them, in any order. Keep key "
            << *previous
            << " and every older key in the file (twostep key list); once every instance runs "
               "with this file, `twostep key reseal`, then `twostep key retire`.\n";
  return 0;
}

// `twostep key reseal`: secrets sealed under older keys, sealed again under the current one.
int key_reseal(app::App& app) {
  auto methods = app.twofa().reseal_secrets();
  if (!methods) return fatal(methods.error().message);
  auto yubikeys = app.security_keys().reseal_yubikeys();
  if (!yubikeys) return fatal(yubikeys.error().message);
  const uint32_t current = app.keyring().current_id();
  app.audit().record(0, "master_key_resealed", kCliClient,
                     {{"key_id", std::to_string(current)},
                      {"methods", std::to_string(methods->resealed)},
                      {"yubikeys", std::to_string(yubikeys->resealed)}});
  std::cout << "sealed " << methods->resealed << " method secret"
            << (methods->resealed == 1 ? "" : "s") << " and " << yubikeys->resealed
            << " YubiKey key" << (yubikeys->resealed == 1 ? "" : "s") << " again with key "
            << current << "\n";
  const int failed = methods->failed + yubikeys->failed;
  if (failed > 0) {
    return fatal(std::to_string(failed) +
                 " secrets could not be opened (is an older key missing from the file?); "
                 "see the log");
  }
  return 0;
}

// `twostep key list`: every key of the file and of the database, and what depends on each.
int key_list(app::App& app) {
  auto uses = app.store().key_usage(std::time(nullptr));
  if (!uses) return fatal(uses.error().message);
  const crypto::Keyring& keyring = app.keyring();
  // key id -> counts of sealed, recovery, app password, sms
  std::map<uint32_t, std::array<int64_t, 4>> rows;
  for (uint32_t id : keyring.ids()) rows[id] = {};
  static const char* const kKinds[] = {"sealed_secrets", "recovery_codes", "app_passwords",
                                       "sms_codes"};
  for (const auto& u : *uses) {
    for (size_t k = 0; k < std::size(kKinds); ++k) {
      if (u.what == kKinds[k]) rows[u.key_id][k] += u.count;
    }
  }
  std::printf("%-10s %-8s %15s %15s %15s %10s\n", "KEY", "STATUS", "SEALED SECRETS",
              "RECOVERY CODES", "APP PASSWORDS", "SMS CODES");
  for (const auto& [id, n] : rows) {
    const char* status = id == keyring.current_id() ? "current"
                         : keyring.staged(id)       ? "staged"
                         : keyring.has(id)          ? "older"
                         : id == crypto::Keyring::kLegacyKeyId
                             ? "unpinned"  // written by an older twostep since this one started
                             : "MISSING";  // not in the key file: these values cannot be used
    std::printf("%-10u %-8s %15lld %15lld %15lld %10lld\n", id, status,
                static_cast<long long>(n[0]), static_cast<long long>(n[1]),
                static_cast<long long>(n[2]), static_cast<long long>(n[3]));
  }
  return 0;
}

std::string plural(int64_t n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// `twostep key retire ID [--revoke-dependents]`: takes an older key out of the key file once
// nothing stored needs it. Sealed secrets are sealed again by `key reseal`; keyed hashes cannot
// be made again without their plaintext, so recovery codes, application passwords and live SMS
// codes under the key are revoked, and only when the operator asks for it. The oldest key keys
// the SMS number hashes (services/sms.cpp), which only compare equal while every instance
// derives them from the same key: it is retired only with --rekey-sms-numbers, which writes
// the hash of every SMS method again under the next oldest key first (cool-downs and
// per-number daily quotas of the day, keyed by the old hashes, start over).
int key_retire(app::App& app, uint32_t id, bool revoke_dependents, bool rekey_sms) {
  const std::string& path = app.config().security.master_key_file;
  const crypto::Keyring& keyring = app.keyring();
  const std::string key = "key " + std::to_string(id);
  // The key file's own refusals, asked before anything that depends on the key is revoked.
  if (auto st = keyring.check_removable(path, id); !st) {
    return fatal(st.error().message + ". Nothing was changed.");
  }
  const bool oldest = id == keyring.ids().front();
  if (rekey_sms && !oldest) {
    return fatal("--rekey-sms-numbers is only for the oldest key (key " +
                 std::to_string(keyring.ids().front()) +
                 "): SMS number hashes do not use " + key + ". Nothing was changed.");
  }
  if (oldest && !rekey_sms) {
    return fatal(
        key +
        " is the oldest key: SMS number hashes (same-number checks, resend cool-downs, "
        "per-number daily quotas) are keyed with the oldest key of the file, on every "
        "instance. --rekey-sms-numbers writes the number hash of every SMS method again under "
        "the next oldest key (key " +
        std::to_string(keyring.ids()[1]) +
        "), then retires this one; the resend cool-downs and per-number daily quotas of the "
        "day start over. Nothing was changed.");
  }
  auto uses = app.store().key_usage(std::time(nullptr));
  if (!uses) return fatal(uses.error().message);
  std::map<std::string, int64_t> n;
  for (const auto& u : *uses) {
    if (u.key_id == id) n[u.what] += u.count;
  }
  if (n["sealed_secrets"] > 0) {
    return fatal(plural(n["sealed_secrets"], "sealed secret") +
                 (n["sealed_secrets"] == 1 ? " still uses " : " still use ") + key +
                 ". Once every instance has the newest key file and has restarted, run "
                 "`twostep key reseal`, then retire the key. Nothing was changed.");
  }
  const int64_t dependents = n["recovery_codes"] + n["app_passwords"] + n["sms_codes"];
  if (dependents > 0 && !revoke_dependents) {
    return fatal(
        key + " still checks " + plural(n["recovery_codes"], "unused recovery code") + ", " +
        plural(n["app_passwords"], "application password") + " and " +
        plural(n["sms_codes"], "live SMS code") +
        ". They are keyed hashes and cannot be made again under another key. "
        "--revoke-dependents deletes those recovery codes (their owners keep their methods and "
        "can generate new codes; each gets an entry in their security log), revokes those "
        "application passwords (every instance stops accepting them) and deletes those SMS "
        "codes (the user asks for a new one), then retires the key. Nothing was changed.");
  }
  // The number hashes first: when a method cannot be re-keyed nothing else has changed, and the
  // methods re-keyed already get their old hashes back.
  const uint32_t next_oldest = keyring.ids()[1];
  int sms_numbers = 0;
  auto undo_rekey = [&app, &id, &oldest](const std::string& why) {
    if (oldest) (void)app.sms().rekey_numbers(id);
    return fatal(why);
  };
  if (oldest) {
    auto rekeyed = app.sms().rekey_numbers(next_oldest);
    if (!rekeyed) return undo_rekey(rekeyed.error().message + ". Nothing was changed.");
    if (rekeyed->failed > 0) {
      return undo_rekey(plural(rekeyed->failed, "SMS method") +
                        " could not be re-keyed (the number did not open: is a key missing from "
                        "the file? or the method changed meanwhile: run the command again); see "
                        "the log. Nothing was changed.");
    }
    sms_numbers = rekeyed->resealed;
  }
  int recovery_codes = 0;
  int app_passwords = 0;
  int sms_codes = 0;
  if (dependents > 0) {
    auto codes = app.store().delete_recovery_codes_of_key(id);
    if (!codes) return undo_rekey(codes.error().message);
    for (const auto& d : *codes) {
      recovery_codes += d.count;
      app.audit().record(d.user_id, "recovery_codes_revoked", kCliClient,
                         {{"reason", "master_key_retired"},
                          {"key_id", std::to_string(id)},
                          {"count", std::to_string(d.count)}});
    }
    auto passwords = app.store().app_passwords_of_key(id);
    if (!passwords) return undo_rekey(passwords.error().message);
    for (const auto& p : *passwords) {
      auto owner = app.store().user_by_id(p.user_id);
      if (!owner) return undo_rekey(owner.error().message);
      auto st = app.app_passwords().revoke(*owner, p.id, kCliClient);
      if (!st && st.error().code != core::Code::kNotFound) return undo_rekey(st.error().message);
      if (st) ++app_passwords;
    }
    auto sms = app.store().delete_live_sms_codes_of_key(id, std::time(nullptr));
    if (!sms) return undo_rekey(sms.error().message);
    sms_codes = *sms;
  }
  if (auto st = crypto::Keyring::remove_key(path, id); !st) {
    return undo_rekey(st.error().message +
                      (dependents > 0 ? " (what depended on the key was revoked already)" : ""));
  }
  std::vector<std::pair<std::string, std::string>> detail = {
      {"key_id", std::to_string(id)},
      {"recovery_codes", std::to_string(recovery_codes)},
      {"app_passwords", std::to_string(app_passwords)},
      {"sms_codes", std::to_string(sms_codes)}};
  if (oldest) detail.emplace_back("sms_numbers_rekeyed", std::to_string(sms_numbers));
  app.audit().record(0, "master_key_retired", kCliClient, detail);
  std::cout << "retired master key " << id << ": removed from " << path << "; revoked "
            << plural(recovery_codes, "recovery code") << ", "
            << plural(app_passwords, "application password") << " and "
            << plural(sms_codes, "SMS code") << ".\n";
  if (oldest) {
    std::cout << "Re-keyed the number hash of " << plural(sms_numbers, "SMS method")
              << " under key " << next_oldest
              << ": the resend cool-downs and per-number daily quotas of today start over.\n"
              << "Until every instance has restarted with this file, instances with the old "
                 "file still hash numbers under key "
              << id << " and count per-number limits apart from the others.\n";
  }
  std::cout << "Copy this file to every instance and restart them: an instance keeps the key "
               "in memory until it restarts.\n";
  return 0;
}

struct AuditArgs {
  std::string user;
  std::string event;
  std::string since_text;
  int limit = 100;
  bool json = false;
  int64_t now = 0;
};

// `twostep audit`: the site-wide security log, as a table or as JSON Lines.
int audit_command(app::App& app, const AuditArgs& a) {
  store::AuditFilter filter;
  if (!a.user.empty()) {
    auto u = user_named(app, a.user);
    if (!u) return fatal(u.error().message);
    filter.user_id = u->id;
  }
  filter.event = a.event;
  if (!a.since_text.empty()) filter.since = *parse_since(a.since_text, a.now);  // validated
  filter.limit = a.limit;
  auto events = app.audit().site(filter);
  if (!events) return fatal(events.error().message);
  if (!a.json) {
    print_audit_table(std::cout, *events, /*with_user=*/true);
    return 0;
  }
  for (const auto& e : *events) std::cout << audit_json_line(e) << '\n';
  return 0;
}

// `twostep config check`: the configuration loaded as serve loads it, then what serve would
// refuse or trip over later (app::check_config). Exit 0 when nothing is an error.
int config_check(const std::string& config_file, bool connect) {
  const std::string label = config_file.empty() ? "defaults (no file)" : config_file;
  auto config = load(config_file);
  if (!config) {
    std::cerr << "error: " << config.error().message << "\n";
    std::cerr << "config NOT OK: " << label << "\n";
    return 1;
  }
  int errors = 0;
  for (const auto& f : app::check_config(*config, app::ConfigCheckOptions{connect})) {
    using Level = app::ConfigFinding::Level;
    errors += f.level == Level::kError ? 1 : 0;
    std::cerr << (f.level == Level::kError     ? "error: "
                  : f.level == Level::kWarning ? "warning: "
                                               : "note: ")
              << f.text << "\n";
  }
  if (errors > 0) {
    std::cerr << "config NOT OK: " << label << " (" << errors << (errors == 1 ? " error" : " errors")
              << ")\n";
    return 1;
  }
  std::cout << "config OK: " << label << "\n";
  return 0;
}

// `twostep config show`: the effective configuration as TOML, secrets redacted.
int config_show(const std::string& config_file) {
  auto config = load(config_file);
  if (!config) return fatal(config.error().message);
  std::cout << core::config_toml(*config);
  return 0;
}

void add_key_id(CLI::App* command, uint32_t& id) {
  command->add_option("ID", id, "Key id (twostep key list)")
      ->required()
      ->check(CLI::Range(uint32_t{1}, UINT32_MAX));
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

  auto* config_cmd = cli.add_subcommand("config", "Check or show the configuration");
  config_cmd->require_subcommand(1);
  bool connect = false;
  auto* config_check_cmd = config_cmd->add_subcommand(
      "check",
      "Check the configuration as twostep serve would load it (file, TWOSTEP_<SECTION>_<KEY> "
      "environment, defaults), and the files and database it names, without creating or "
      "changing anything. Prints 'config OK: FILE' and exits 0, or lists the problems and "
      "exits 1. Run it before a restart.");
  config_check_cmd->add_option("--config", config_file, "TOML configuration file");
  config_check_cmd->add_flag("--connect", connect,
                             "PostgreSQL: connect and check the schema version (read only)");
  auto* config_show_cmd = config_cmd->add_subcommand(
      "show",
      "Print the effective configuration as TOML: every key, defaults included, secrets "
      "shown as \"<redacted>\"");
  config_show_cmd->add_option("--config", config_file, "TOML configuration file");

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
  int audit_limit = 50;
  auto* user_audit =
      user->add_subcommand("audit", "Show a user's security log (sign-ins, locks, changes), newest first");
  user_audit->add_option("NAME", name, "Username")->required();
  user_audit->add_option("--limit", audit_limit, "How many entries (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  bool keep_app_passwords = false;
  auto* user_reset_2fa = user->add_subcommand(
      "reset-2fa",
      "Turn off a user's two-step verification (every method and recovery code) when they lost "
      "every factor: ends their sessions and revokes their application passwords");
  user_reset_2fa->add_option("NAME", name, "Username")->required();
  user_reset_2fa->add_flag("--keep-app-passwords", keep_app_passwords,
                           "Leave their application passwords working");

  AuditArgs audit_args;
  audit_args.now = std::time(nullptr);
  auto* site_audit = cli.add_subcommand(
      "audit",
      "Show the security log of the whole site (every account's entries and the operator's, "
      "e.g. key rotations), newest first");
  site_audit->add_option("--user", audit_args.user, "Only this user's entries (username)");
  site_audit->add_option("--event", audit_args.event, "Only this event, e.g. login_failed")
      ->check(CLI::Validator(
          [](std::string& text) {
            return is_event_name(text) ? std::string()
                                       : "an event name is snake_case, e.g. login_failed";
          },
          "EVENT"));
  site_audit
      ->add_option("--since", audit_args.since_text,
                   std::string("Only entries from then on: ") + kSinceHelp)
      ->check(CLI::Validator(
          [now = audit_args.now](std::string& text) {
            return parse_since(text, now) ? std::string() : std::string("expected ") + kSinceHelp;
          },
          "TIME|AGE"));
  site_audit->add_option("--limit", audit_args.limit, "How many entries, newest first (1-1000)")
      ->check(CLI::Range(1, store::kMaxAuditPage))
      ->capture_default_str();
  site_audit->add_flag("--json", audit_args.json,
                       "One JSON object per line (JSON Lines), e.g. for a SIEM");

  auto* sms = cli.add_subcommand("sms", "Check phone numbers and the SMS gateway");
  sms->require_subcommand(1);
  std::string phone;
  std::string region;
  auto* sms_check = sms->add_subcommand("check", "Show whether a number may receive SMS codes");
  sms_check->add_option("NUMBER", phone, "+41 79 123 45 67, or national with --region")->required();
  sms_check->add_option("--region", region, "Region of a national number, e.g. CH");
  auto* sms_test =
      sms->add_subcommand("test", "Send a test message through the configured gateway");
  sms_test->add_option("NUMBER", phone, "+41 79 123 45 67, or national with --region")->required();
  sms_test->add_option("--region", region, "Region of a national number, e.g. CH");
  auto* org = cli.add_subcommand("org", "Manage organisations, their members and 2FA policy");
  org->require_subcommand(1);
  std::string org_ref;
  std::string owner;
  std::string role = "member";
  std::optional<bool> require_2fa;
  std::optional<int> grace_days;
  auto* org_create = org->add_subcommand("create", "Create an organisation");
  org_create->add_option("NAME", org_ref, "Organisation name")->required();
  org_create->add_option("--owner", owner, "Username of its first owner")->required();
  auto* org_add = org->add_subcommand("add", "Add a user to an organisation");
  org_add->add_option("ORG", org_ref, "Organisation id or name")->required();
  org_add->add_option("USER", name, "Username")->required();
  org_add->add_option("--role", role, "owner, admin or member")
      ->check(CLI::IsMember({"owner", "admin", "member"}));
  org->add_subcommand("list", "List organisations");
  auto* org_members = org->add_subcommand("members", "List an organisation's members");
  org_members->add_option("ORG", org_ref, "Organisation id or name")->required();
  auto* org_policy =
      org->add_subcommand("policy", "Show or set whether members must use two-step verification");
  org_policy->add_option("ORG", org_ref, "Organisation id or name")->required();
  bool require_on = false;
  bool require_off = false;
  auto* on_flag = org_policy->add_flag("--require-2fa", require_on,
                                       "Require two-step verification of every member");
  org_policy->add_flag("--no-require-2fa", require_off, "Stop requiring it")->excludes(on_flag);
  org_policy->add_option("--grace-days", grace_days, "Days members have to enrol (0 = at once)")
      ->check(CLI::Range(0, services::kMaxGraceDays));
  auto* org_remove = org->add_subcommand("remove", "Remove a user from an organisation");
  org_remove->add_option("ORG", org_ref, "Organisation id or name")->required();
  org_remove->add_option("USER", name, "Username")->required();
  auto* yubikey = cli.add_subcommand("yubikey", "Manage Yubico OTP keys");
  yubikey->require_subcommand(1);
  std::string key_file;
  bool replace_keys = false;
  auto* yubikey_import = yubikey->add_subcommand(
      "import", "Import keys from a personalization tool's CSV export (- = standard input)");
  yubikey_import->add_option("FILE", key_file, "CSV file")->required();
  yubikey_import->add_flag("--replace", replace_keys,
                           "Replace keys already imported (they were reprogrammed)");
  auto* yubikey_list = yubikey->add_subcommand("list", "List imported keys and who uses them");
  auto* apppw = cli.add_subcommand("app-password", "Manage a user's application passwords");
  apppw->require_subcommand(1);
  int64_t apppw_id = 0;
  auto* apppw_list = apppw->add_subcommand("list", "List a user's application passwords");
  apppw_list->add_option("NAME", name, "Username")->required();
  auto* apppw_revoke =
      apppw->add_subcommand("revoke", "Revoke one of a user's application passwords");
  apppw_revoke->add_option("NAME", name, "Username")->required();
  apppw_revoke->add_option("ID", apppw_id, "Application password id (from list)")->required();

  auto* key = cli.add_subcommand("key", "Manage the master keys (security.master_key_file)");
  key->require_subcommand(1);
  auto* key_rotate_cmd = key->add_subcommand(
      "rotate",
      "One step, for a single instance: add a new master key to the key file (atomically, mode "
      "0600) and print its id; it is the current key for every instance started afterwards. "
      "Older keys stay in the file. Several instances: use key add, then key use.");
  auto* key_add_cmd = key->add_subcommand(
      "add",
      "Step 1 of 2, for several instances: add a new master key to the key file, staged (not "
      "current). Copy the file to every instance and restart them: all can read values under "
      "the new key while they still write under the current one.");
  uint32_t use_id = 0;
  auto* key_use_cmd = key->add_subcommand(
      "use",
      "Step 2 of 2: make key ID of the key file the current one (atomically, mode 0600; "
      "comments and every key stay). Copy the file to every instance and restart them, in any "
      "order.");
  add_key_id(key_use_cmd, use_id);
  bool force_use = false;
  key_use_cmd->add_flag("--force", force_use,
                        "Make the key current even though running instances (twostep "
                        "instances) have not loaded it; they fail on values made under it "
                        "until restarted with the key file");
  auto* instances_cmd = cli.add_subcommand(
      "instances",
      "List the running `twostep serve` instances of this database (seen within 3 heartbeats, "
      "server.heartbeat_s) and the master keys each loaded (* = current)");
  bool instances_all = false;
  instances_cmd->add_flag("--all", instances_all,
                          "Also list stale rows: instances that stopped without a clean "
                          "shutdown (kept for a day)");
  auto* key_list_cmd = key->add_subcommand(
      "list",
      "List the master keys, their state (current, staged, older, MISSING from the file) and "
      "how many stored values use each");
  uint32_t retire_id = 0;
  bool revoke_dependents = false;
  auto* key_retire_cmd = key->add_subcommand(
      "retire",
      "Remove older key ID from the key file (atomically, mode 0600) once nothing stored "
      "needs it: run key reseal first. Refuses the current and a staged key, and the oldest "
      "key (it keys the SMS number hashes) unless --rekey-sms-numbers.");
  add_key_id(key_retire_cmd, retire_id);
  key_retire_cmd->add_flag("--revoke-dependents", revoke_dependents,
                           "Also delete the recovery codes, revoke the application passwords and "
                           "delete the live SMS codes still hashed under the key");
  bool rekey_sms = false;
  key_retire_cmd->add_flag("--rekey-sms-numbers", rekey_sms,
                           "Retire the oldest key: first write the number hash of every SMS "
                           "method again under the next oldest key (today's resend cool-downs "
                           "and per-number daily quotas start over)");
  auto* key_reseal_cmd = key->add_subcommand(
      "reseal",
      "Seal every secret at rest (TOTP and authenticator seeds, SMS numbers, YubiKey keys) "
      "made under an older key again under the current one. Run it once every instance has "
      "restarted with the rotated key file.");

  CLI11_PARSE(cli, argc, argv);

  if (version->parsed()) {
    std::cout << "twostep " << TWOSTEP_VERSION << "\n";
    return 0;
  }
  // Before App::open, which creates the master key and the database and migrates.
  if (config_check_cmd->parsed()) return config_check(config_file, connect);
  if (config_show_cmd->parsed()) return config_show(config_file);
  auto config = load(config_file);
  if (!config) return fatal(config.error().message);
  auto app = app::App::open(std::move(*config));
  if (!app) return fatal(app.error().message + (app.error().detail.empty() ? "" : ": " + app.error().detail));

  if (serve->parsed()) return (*app)->serve();
  // Whatever the command changed that running instances cache (sessions, application
  // passwords, a disabled user) is announced to them when it returns.
  struct Announce {
    app::App& app;
    ~Announce() {
      if (auto st = app.announce_changes(); !st) {
        std::cerr << "twostep: warning: running servers were not told at once ("
                  << st.error().detail << "); they notice within sessions.verify_cache_ms\n";
      }
    }
  } announce{**app};
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
  if (user_audit->parsed()) {
    auto u = user_named(**app, name);
    if (!u) return fatal(u.error().message);
    auto events = (*app)->audit().of_user(u->id, audit_limit);
    if (!events) return fatal(events.error().message);
    print_audit_table(std::cout, *events, /*with_user=*/false);
    return 0;
  }
  if (site_audit->parsed()) return audit_command(**app, audit_args);
  if (user_reset_2fa->parsed()) {
    auto u = user_named(**app, name);
    if (!u) return fatal(u.error().message);
    auto done = (*app)->orgs().reset_twofa_by_operator(*u, !keep_app_passwords, kCliClient);
    if (!done) return fatal(u->username + ": " + done.error().message);
    auto count = [](int n, const char* what) {
      return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
    };
    std::cout << "two-step verification of " << u->username << " turned off; ended "
              << count(done->sessions_ended, "session") << "; "
              << (keep_app_passwords
                      ? std::string("application passwords kept")
                      : "revoked " + count(done->app_passwords_revoked, "application password"))
              << "\n";
    return 0;
  }
  if (sms_check->parsed() || sms_test->parsed()) {
    const bool off = services::sms_off((*app)->config().sms);
    constexpr const char* kOff = "codes by SMS are off (sms.gateway = off)";
    if (off && sms_test->parsed()) {
      return fatal(std::string(kOff) + ": nothing was sent. Set sms.gateway to http or twilio.");
    }
    const auto& allowed = (*app)->config().sms.allowed_regions;
    auto number = factors::sms::parse_phone(phone, region, allowed);
    if (!number) return fatal(number.error().reason + ": " + number.error().message);
    std::cout << number->e164 << " (" << factors::sms::region_name(number->region) << ", mobile) "
              << (off ? "would be accepted" : "may receive codes") << "; shown as "
              << number->masked << "\n";
    if (off) std::cout << kOff << ": no number receives codes\n";
    // With SMS off a script asking "may this number receive codes?" must hear no.
    if (sms_check->parsed()) return off ? 1 : 0;
    auto sent = (*app)->sms_gateway().send(services::SmsMessage{
        number->e164, "This is a test message from twostep. No action is needed."});
    if (!sent) return fatal(sent.error().message + " (" + sent.error().detail + ")");
    std::cout << "sent through the " << (*app)->sms_gateway().name() << " gateway\n";
    return 0;
  }
  if (require_on || require_off) require_2fa = require_on;
  if (org->parsed()) {
    return org_command(**app, org->get_subcommands().front()->get_name(),
                       OrgArgs{org_ref, name, owner, role, require_2fa, grace_days});
  }
  if (yubikey_import->parsed()) {
    std::string text;
    if (key_file == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(key_file, std::ios::binary);
      if (!in) return fatal("cannot read " + key_file);
      std::ostringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    auto n = (*app)->security_keys().import_yubikeys(text, replace_keys, kCliClient);
    core::secure_zero(text.data(), text.size());
    if (!n) return fatal(n.error().message);
    std::cout << "imported " << *n << " new YubiKey" << (*n == 1 ? "" : "s") << "\n";
    return 0;
  }
  if (yubikey_list->parsed()) {
    auto keys = (*app)->security_keys().list_yubikeys();
    if (!keys) return fatal(keys.error().message);
    std::printf("%-34s %-22s %-22s %s\n", "PUBLIC ID", "IMPORTED", "LAST USED", "USER");
    for (const auto& k : *keys) {
      std::printf("%-34s %-22s %-22s %s\n", k.public_id.c_str(), format_time(k.imported_at).c_str(),
                  format_time(k.last_used_at).c_str(), k.owner.empty() ? "-" : k.owner.c_str());
    }
    return 0;
  }
  if (apppw_list->parsed() || apppw_revoke->parsed()) {
    auto user = user_named(**app, name);
    if (!user) return fatal(user.error().message);
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
  if (key_rotate_cmd->parsed()) return key_add(**app, crypto::Keyring::AddMode::kCurrent);
  if (key_add_cmd->parsed()) return key_add(**app, crypto::Keyring::AddMode::kStaged);
  if (key_use_cmd->parsed()) return key_use(**app, use_id, force_use);
  if (instances_cmd->parsed()) return instances_command(**app, instances_all);
  if (key_list_cmd->parsed()) return key_list(**app);
  if (key_reseal_cmd->parsed()) return key_reseal(**app);
  if (key_retire_cmd->parsed()) return key_retire(**app, retire_id, revoke_dependents, rekey_sms);
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
