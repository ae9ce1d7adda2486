#include "twostep/authenticator/cli.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "twostep/authenticator/accounts.hpp"
#include "twostep/authenticator/device_client.hpp"
#include "twostep/authenticator/http_client.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/factors/otp.hpp"
#include "twostep/factors/push.hpp"

namespace twostep::authenticator {
namespace {

using nlohmann::json;

constexpr const char* kEventsTarget = "/api/v1/devices/events";
constexpr const char* kApprovalsTarget = "/api/v1/devices/approvals";
constexpr std::chrono::seconds kStreamIdle{45};  // the server pings every 15 s

int fail(const std::string& what) {
  std::cerr << "twostep-auth: " << what << "\n";
  return 1;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string clock_time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string current_code(const Account& a) {
  return factors::totp(factors::TotpParams{}, a.totp_seed.view(), unix_now());
}

std::string device_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "twostep-auth";
  return std::string("twostep-auth on ") + host;
}

core::Result<std::vector<Account>> load_accounts(AccountStore& store) { return store.load(); }

// Fields of the server's JSON, read without trusting their types; text loses control
// characters (it is printed on a terminal).
std::string text_field(const json& j, const char* key, const std::string& fallback) {
  auto it = j.is_object() ? j.find(key) : j.end();
  if (!j.is_object() || it == j.end() || !it->is_string()) return fallback;
  std::string out;
  for (unsigned char c : it->get_ref<const std::string&>()) {
    out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  return out;
}

int64_t int_field(const json& j, const char* key, int64_t fallback) {
  auto it = j.is_object() ? j.find(key) : j.end();
  if (!j.is_object() || it == j.end() || !it->is_number_integer()) return fallback;
  return it->get<int64_t>();
}

json array_field(const json& j, const char* key) {
  auto it = j.is_object() ? j.find(key) : j.end();
  if (!j.is_object() || it == j.end() || !it->is_array()) return json::array();
  return *it;
}

// The accounts, and the one `query` names (see select_account).
struct Selected {
  std::vector<Account> all;
  size_t index = 0;
  const Account& account() const { return all[index]; }
};

core::Result<Selected> load_selected(AccountStore& store, std::string_view query) {
  Selected s;
  TS_ASSIGN_OR_RETURN(s.all, store.load());
  TS_ASSIGN_OR_RETURN(const Account* a, select_account(s.all, query));
  s.index = static_cast<size_t>(a - s.all.data());
  return s;
}

// --- enroll --------------------------------------------------------------------

int cmd_enroll(AccountStore& store, const std::string& uri, const std::string& name) {
  auto e = factors::push::parse_enrollment_uri(uri);
  if (!e) {
    return fail("that is not an enrolment link (expected twostep://enroll?server=...&token=...)");
  }
  auto accounts = load_accounts(store);
  if (!accounts) return fail(accounts.error().message);

  auto kp = factors::push::generate_keypair();
  core::Secret seed(crypto::random_bytes(factors::push::kSeedSize));
  const std::string target = "/api/v1/devices/enroll";
  std::string body = json{{"token", e->token},
                          {"public_key", crypto::base64url_encode(kp.public_key)},
                          {"totp_seed", crypto::base32_encode(seed.view())},
                          {"name", name.empty() ? device_name() : name}}
                         .dump();
  HttpResult r = http_request("POST", e->server + target, body,
                              signed_headers("", kp.secret_key.view(), "POST", target, body));
  core::secure_zero(body.data(), body.size());
  if (r.status != 201) return fail("enrolment refused: " + describe_failure(r));
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("device_id") || !j["device_id"].is_string()) {
    return fail("the server's answer is not an enrolment");
  }
  Account a;
  a.server = e->server;
  a.account = text_field(j, "account", e->account);
  a.issuer = text_field(j, "issuer", e->issuer);
  a.device_id = j["device_id"].get<std::string>();
  a.method_id = int_field(j, "method_id", 0);
  a.enrolled_at = unix_now();
  a.secret_key = std::move(kp.secret_key);
  a.totp_seed = std::move(seed);
  a.name = unique_name(*accounts, a.account, a.server);
  const std::string code = current_code(a);
  const std::string account_name = a.name;
  accounts->push_back(std::move(a));
  if (auto st = store.save(*accounts); !st) return fail(st.error().message);
  std::cout << "enrolled " << account_name << "\n"
            << "To finish, enter this code on the Security page: " << code << "\n"
            << "(later codes: twostep-auth code \"" << account_name << "\")\n";
  return 0;
}

// --- list / code / remove ------------------------------------------------------------

int cmd_list(AccountStore& store) {
  auto accounts = load_accounts(store);
  if (!accounts) return fail(accounts.error().message);
  if (accounts->empty()) {
    std::cout << "No accounts yet: enrol one with `twostep-auth enroll URI`.\n";
    return 0;
  }
  for (const auto& a : *accounts) {
    std::cout << a.name << "\t" << a.account << "\t" << a.server << "\n";
  }
  return 0;
}

int cmd_code(AccountStore& store, const std::string& query) {
  auto sel = load_selected(store, query);
  if (!sel) return fail(sel.error().message);
  const Account* a = &sel->account();
  std::cout << current_code(*a) << "\n";
  return 0;
}

int cmd_remove(AccountStore& store, const std::string& query) {
  auto sel = load_selected(store, query);
  if (!sel) return fail(sel.error().message);
  const Account* a = &sel->account();
  const std::string name = a->name;
  std::erase_if(sel->all, [&](const Account& x) { return x.name == name; });
  if (auto st = store.save(sel->all); !st) return fail(st.error().message);
  std::cout << "removed " << name
            << " from this authenticator (remove the method on the Security page too)\n";
  return 0;
}

// --- approve / deny / pending -------------------------------------------------------

// POST /devices/approvals/{id}: rc 0 when the answer is the one asked for; `unsent` when
// the server could not be reached (the request may still be answered).
struct Answered {
  int rc = 1;
  bool unsent = false;
};

Answered answer(const Account& a, int64_t id, bool approve, int number, std::ostream& out) {
  json body{{"approve", approve}};
  if (approve) body["number"] = number;
  HttpResult r = DeviceClient(a).send(
      "POST", std::string(kApprovalsTarget) + "/" + std::to_string(id), body.dump());
  if (!r.ok()) {
    out << "request " << id << ": " << describe_failure(r) << "\n";
    return Answered{1, r.status == 0};
  }
  json j = json::parse(r.body, nullptr, false);
  const std::string state = text_field(j, "state", "");
  if (approve && state == "approved") {
    out << "request " << id << ": approved, the sign-in may continue\n";
    return Answered{0, false};
  }
  if (approve) {
    out << "request " << id << ": denied, " << number << " is not the number on the sign-in page\n";
    return Answered{1, false};
  }
  out << "request " << id << ": denied\n";
  return Answered{state == "denied" ? 0 : 1, false};
}

int cmd_answer(AccountStore& store, const std::string& query, int64_t id, bool approve,
               int number) {
  auto sel = load_selected(store, query);
  if (!sel) return fail(sel.error().message);
  const Account* a = &sel->account();
  std::ostringstream out;
  const int rc = answer(*a, id, approve, number, out).rc;
  (rc == 0 ? std::cout : std::cerr) << out.str();
  return rc;
}

json approval_line(const Account& a, const json& data, const char* event) {
  json j = data.is_object() ? data : json::object();
  j["event"] = event;
  j["account"] = a.name;
  return j;
}

void print_request(std::ostream& out, const Account& a, const json& r) {
  std::string choices;
  const json c = array_field(r, "choices");
  for (size_t i = 0; i < c.size(); ++i) {
    choices += (i == 0 ? "" : (i + 1 == c.size() ? " or " : ", ")) + c[i].dump();
  }
  const int64_t expires = int_field(r, "expires_at", 0);
  out << "Sign-in request " << int_field(r, "id", 0) << " for " << a.name << "\n"
      << "  from " << text_field(r, "ip", "?") << ", " << text_field(r, "device", "unknown browser")
      << ", at " << clock_time(int_field(r, "created_at", unix_now())) << " (expires in "
      << std::max<int64_t>(0, expires - unix_now()) << " s)\n"
      << "  Which number does the sign-in page show: " << choices << "?\n"
      << "  Type the number to approve, or \"n\" to deny.\n";
}

int cmd_pending(AccountStore& store, const std::string& query, bool as_json) {
  auto sel = load_selected(store, query);
  if (!sel) return fail(sel.error().message);
  const Account* a = &sel->account();
  HttpResult r = DeviceClient(*a).send("GET", kApprovalsTarget, "");
  if (!r.ok()) return fail(describe_failure(r));
  json j = json::parse(r.body, nullptr, false);
  const json list = array_field(j, "approvals");
  for (const auto& x : list) {
    if (as_json) {
      std::cout << approval_line(*a, x, "approval").dump() << "\n";
    } else {
      print_request(std::cout, *a, x);
    }
  }
  if (!as_json && list.empty()) std::cout << "No sign-in requests waiting.\n";
  return 0;
}

// --- watch -----------------------------------------------------------------------

// What `watch` shows and answers: shared by the stream threads and the input loop.
class Watch {
 public:
  explicit Watch(bool as_json) : json_(as_json) {}

  void say(const std::string& human, const json& machine) {
    std::lock_guard lock(mu_);
    if (json_) {
      std::cout << machine.dump() << std::endl;
    } else {
      std::cout << human << std::flush;
    }
  }

  // One account's stream, reconnecting with backoff until the device is refused for good.
  void run(const Account& a) {
    std::chrono::seconds backoff{1};
    bool told_unconfirmed = false;
    for (;;) {
      SseParser parser;
      bool connected = false;
      bool revoked = false;
      auto on_data = [&](std::string_view chunk) {
        if (!connected) {
          connected = true;
          backoff = std::chrono::seconds(1);
          say("Watching " + a.name + " for sign-in requests.\n",
              json{{"event", "connected"}, {"account", a.name}});
        }
        for (const auto& ev : parser.feed(chunk)) {
          if (handle(a, ev)) revoked = true;
        }
        return !revoked;
      };
      HttpResult r = DeviceClient(a).stream(kEventsTarget, on_data, kStreamIdle);
      if (revoked) return;
      if (r.status == 401 || (r.status == 403 && error_code(r) != "not_confirmed")) {
        say(a.name + ": " + describe_failure(r) + "\n",
            json{{"event", "revoked"}, {"account", a.name}, {"message", describe_failure(r)}});
        return;
      }
      if (r.status == 403) {
        if (!told_unconfirmed) {
          say(a.name + ": " + describe_failure(r) + " Waiting...\n",
              json{{"event", "waiting"}, {"account", a.name}, {"message", describe_failure(r)}});
          told_unconfirmed = true;
        }
        std::this_thread::sleep_for(std::chrono::seconds(3));
        continue;
      }
      const std::string why = r.ok() || r.status == 0
                                  ? (r.error.empty() ? "connection closed" : r.error)
                                  : describe_failure(r);
      say(a.name + ": " + why + "; reconnecting in " + std::to_string(backoff.count()) + " s\n",
          json{{"event", "disconnected"}, {"account", a.name}, {"message", why}});
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::seconds(30));
    }
  }

  // A line typed by the person: "42" (approve the latest request with 42), "12 42", "n",
  // "n 12". false to stop reading.
  bool input(const std::string& line) {
    std::istringstream in(line);
    std::string first, second;
    in >> first >> second;
    if (first.empty()) return true;
    if (first == "q" || first == "quit") return false;
    const bool deny = first == "n" || first == "no" || first == "deny";
    std::optional<int64_t> id;
    std::string number_text = first;
    if (deny) {
      if (!second.empty()) id = parse_int(second);
    } else if (!second.empty()) {
      id = parse_int(first);
      number_text = second;
    }
    Pending p;
    {
      std::lock_guard lock(mu_);
      std::erase_if(pending_, [](const auto& kv) { return kv.second.expires_at <= unix_now(); });
      if (pending_.empty()) {
        std::cout << "No sign-in request is waiting.\n" << std::flush;
        return true;
      }
      auto it = id ? pending_.find(*id) : std::prev(pending_.end());
      if (it == pending_.end()) {
        std::cout << "No waiting request " << *id << ".\n" << std::flush;
        return true;
      }
      p = it->second;
    }
    int number = 0;
    if (!deny) {
      auto n = parse_int(number_text);
      bool offered = false;
      for (int c : p.choices) offered = offered || (n && c == *n);
      if (!offered) {
        say("Type one of the numbers offered, or \"n\" to deny.\n",
            json{{"event", "error"}, {"message", "not one of the numbers offered"}});
        return true;
      }
      number = static_cast<int>(*n);
    }
    {
      std::lock_guard lock(mu_);
      pending_.erase(p.id);  // answered here: its "decided" event is no news to the person
    }
    std::ostringstream out;
    const Answered done = answer(*p.account, p.id, !deny, number, out);
    if (done.unsent) {
      std::lock_guard lock(mu_);
      pending_.emplace(p.id, p);  // the server was not reached: it can be tried again
    }
    say(out.str(), json{{"event", "answered"},
                        {"account", p.account->name},
                        {"id", p.id},
                        {"ok", done.rc == 0},
                        {"message", out.str()}});
    return true;
  }

 private:
  struct Pending {
    const Account* account = nullptr;
    int64_t id = 0;
    std::vector<int> choices;
    int64_t expires_at = 0;
  };

  static std::optional<int64_t> parse_int(const std::string& s) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    int64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  }

  // true when the stream must end (the device was revoked).
  bool handle(const Account& a, const SseEvent& ev) {
    json data = json::parse(ev.data, nullptr, false);
    if (ev.event == "approval" && data.is_object()) {
      Pending p{&a, int_field(data, "id", 0), {}, int_field(data, "expires_at", 0)};
      for (const auto& c : array_field(data, "choices")) {
        if (c.is_number_integer()) p.choices.push_back(c.get<int>());
      }
      {
        std::lock_guard lock(mu_);
        // The server may send a request again (after a reconnection or a resync).
        if (!pending_.emplace(p.id, p).second) return false;
      }
      std::ostringstream human;
      print_request(human, a, data);
      say(human.str(), approval_line(a, data, "approval"));
    } else if (ev.event == "decided" && data.is_object()) {
      const int64_t id = int_field(data, "id", 0);
      bool ours = false;
      {
        std::lock_guard lock(mu_);
        ours = pending_.erase(id) > 0;
      }
      if (ours || json_) {
        say("Request " + std::to_string(id) + " was " + text_field(data, "state", "answered") +
                ".\n",
            approval_line(a, data, "decided"));
      }
    } else if (ev.event == "revoked") {
      say(a.name + ": this authenticator was removed from the account.\n",
          json{{"event", "revoked"}, {"account", a.name}, {"message", "removed"}});
      return true;
    }
    return false;
  }

  bool json_;
  std::mutex mu_;
  std::map<int64_t, Pending> pending_;  // by request id; the last is the latest
};

int cmd_watch(AccountStore& store, const std::string& query, bool as_json) {
  auto accounts = load_accounts(store);
  if (!accounts) return fail(accounts.error().message);
  std::vector<const Account*> watched;
  if (query.empty()) {
    for (const auto& a : *accounts) watched.push_back(&a);
    if (watched.empty()) return fail(select_account(*accounts, "").error().message);
  } else {
    auto a = select_account(*accounts, query);
    if (!a) return fail(a.error().message);
    watched.push_back(*a);
  }
  Watch watch(as_json);
  std::vector<std::thread> threads;
  for (const Account* a : watched) threads.emplace_back([&watch, a] { watch.run(*a); });
  // Answers typed on standard input; at its end we keep watching (approve/deny from
  // another shell then). Threads blocked in getline or libcurl are not waited for: the
  // process ends with _Exit once there is nothing left to do.
  std::thread([&watch] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!watch.input(line)) {
        std::cout.flush();
        std::_Exit(0);
      }
    }
  }).detach();
  for (auto& t : threads) t.join();
  std::cout.flush();
  std::_Exit(1);  // every account was refused: nothing left to watch
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App cli{
      "twostep-auth: the twostep companion authenticator (push approval and offline codes)"};
  cli.require_subcommand(1);
  std::string uri, name, account;
  int64_t id = 0;
  int number = 0;
  bool as_json = false;

  auto* enroll =
      cli.add_subcommand("enroll", "Enrol with the link or QR code from the Security page");
  enroll->add_option("URI", uri, "twostep://enroll?... link")->required();
  enroll->add_option("--name", name, "Name of this authenticator, shown on the server");
  auto* list = cli.add_subcommand("list", "List the accounts of this authenticator");
  auto* code = cli.add_subcommand("code", "Print the current 6-digit code (works offline)");
  code->add_option("ACCOUNT", account, "Account name (needed when there are several)");
  auto* watch = cli.add_subcommand("watch", "Show sign-in requests as they come and answer them");
  watch->add_option("ACCOUNT", account, "Only this account (default: all)");
  watch->add_flag("--json", as_json, "One JSON object per line instead of text");
  auto* pending = cli.add_subcommand("pending", "List the sign-in requests waiting now");
  pending->add_option("ACCOUNT", account, "Account name (needed when there are several)");
  pending->add_flag("--json", as_json, "One JSON object per line instead of text");
  auto* approve = cli.add_subcommand("approve", "Approve a sign-in request with its number");
  approve->add_option("ID", id, "Request id")->required();
  approve->add_option("NUMBER", number, "The number shown on the sign-in page")->required();
  approve->add_option("--account", account, "Account name (needed when there are several)");
  auto* deny = cli.add_subcommand("deny", "Deny a sign-in request");
  deny->add_option("ID", id, "Request id")->required();
  deny->add_option("--account", account, "Account name (needed when there are several)");
  auto* remove = cli.add_subcommand("remove", "Forget an account on this authenticator");
  remove->add_option("ACCOUNT", account, "Account name")->required();

  CLI11_PARSE(cli, argc, argv);

  http_global_init();
  auto dir = AccountStore::default_dir();
  if (!dir) return fail(dir.error().message);
  AccountStore store(*dir);

  if (enroll->parsed()) return cmd_enroll(store, uri, name);
  if (list->parsed()) return cmd_list(store);
  if (code->parsed()) return cmd_code(store, account);
  if (watch->parsed()) return cmd_watch(store, account, as_json);
  if (pending->parsed()) return cmd_pending(store, account, as_json);
  if (approve->parsed()) return cmd_answer(store, account, id, true, number);
  if (deny->parsed()) return cmd_answer(store, account, id, false, 0);
  if (remove->parsed()) return cmd_remove(store, account);
  return 0;
}

}  // namespace twostep::authenticator
