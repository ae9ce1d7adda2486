#include <utility>  // before Asio headers (Boost 1.74)

#include "twostep/api/api.hpp"

#include <boost/asio/this_coro.hpp>

#include "twostep/api/json.hpp"
#include "twostep/api/static_files.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::api {
namespace {

namespace net = boost::asio;
using core::Code;
using http::Request;
using http::Response;
using services::Client;
using services::IssuedSession;
using services::SessionView;
using store::SessionState;
using Awaitable = net::awaitable<Response>;

constexpr const char* kSessionCookie = "twostep_session";
constexpr const char* kCsrfCookie = "twostep_csrf";
constexpr size_t kMaxUsername = 256;
constexpr size_t kMaxPassword = 1024;  // policy says 256 characters; bytes may be more (UTF-8)
constexpr size_t kMaxCode = 64;

json user_json(const store::User& u) {
  return json{{"id", u.id}, {"username", u.username}, {"created_at", u.created_at}};
}

json method_json(const store::Method& m) {
  return json{{"id", m.id},           {"type", m.type},
              {"label", m.label},     {"created_at", m.created_at},
              {"last_used_at", m.last_used_at}, {"default", m.is_default}};
}

bool is_safe_method(const std::string& m) { return m == "GET" || m == "HEAD" || m == "OPTIONS"; }

class Api {
 public:
  Api(const ApiOptions& opts, Services s, Pools p, core::Metrics& metrics)
      : cfg_(opts.config), s_(s), pools_(p), metrics_(metrics), static_(opts.web_dir) {
    metrics_.gauge("twostep_hash_pool_queue_depth", "Password-hashing jobs queued or running.",
                   [this] { return pools_.hash.depth(); });
    metrics_.gauge("twostep_db_pool_queue_depth", "Store jobs queued or running.",
                   [this] { return pools_.db.depth(); });
    metrics_.gauge("twostep_hash_pool_rejected", "Password-hashing jobs refused (queue full).",
                   [this] { return static_cast<double>(pools_.hash.rejected()); });
    metrics_.gauge("twostep_db_pool_rejected", "Store jobs refused (queue full).",
                   [this] { return static_cast<double>(pools_.db.rejected()); });
    metrics_.describe("twostep_login_total", "counter", "Sign-in attempts by outcome.");
  }

  void add(http::Router& r) {
    auto bind = [this](Awaitable (Api::*fn)(Request&)) {
      return [this, fn](Request& req) -> Awaitable { return (this->*fn)(req); };
    };
    r.add("GET", "/healthz", bind(&Api::healthz));
    r.add("GET", "/metrics", bind(&Api::metrics));
    r.add("GET", "/api/v1/csrf", bind(&Api::csrf));
    r.add("POST", "/api/v1/signup", bind(&Api::signup));
    r.add("POST", "/api/v1/login", bind(&Api::login));
    r.add("GET", "/api/v1/login/state", bind(&Api::login_state));
    r.add("POST", "/api/v1/login/second-factor", bind(&Api::second_factor));
    r.add("POST", "/api/v1/logout", bind(&Api::logout));
    r.add("GET", "/api/v1/me", bind(&Api::me));
    r.add("GET", "/api/v1/sessions", bind(&Api::list_sessions));
    r.add("DELETE", "/api/v1/sessions/{id}", bind(&Api::revoke_session));
    r.add("GET", "/api/v1/verify", bind(&Api::verify));
    r.add("GET", "/api/v1/audit", bind(&Api::audit));
    r.add("POST", "/api/v1/reauth", bind(&Api::reauth));
    r.add("POST", "/api/v1/methods/totp", bind(&Api::add_totp));
    r.add("POST", "/api/v1/methods/{id}/confirm", bind(&Api::confirm_method));
    r.add("PATCH", "/api/v1/methods/{id}", bind(&Api::rename_method));
    r.add("POST", "/api/v1/methods/{id}/default", bind(&Api::default_method));
    r.add("DELETE", "/api/v1/methods/{id}", bind(&Api::remove_method));
    r.add("DELETE", "/api/v1/twofa", bind(&Api::disable_twofa));
    r.add("POST", "/api/v1/recovery-codes", bind(&Api::recovery_codes));
    if (static_.enabled()) {
      r.set_fallback([this](Request& req) -> Awaitable { co_return static_.serve(req); });
    }
  }

 private:
  // ---- plumbing -----------------------------------------------------------
  static Client client(const Request& req) {
    return Client{req.client_addr, std::string(req.header("user-agent").value_or(""))};
  }

  std::string cookie_attrs(int64_t max_age) const {
    std::string a = "; Path=/; SameSite=Lax";
    if (cfg_.https()) a += "; Secure";
    if (!cfg_.sessions.cookie_domain.empty()) a += "; Domain=" + cfg_.sessions.cookie_domain;
    if (max_age > 0) a += "; Max-Age=" + std::to_string(max_age);
    return a;
  }

  void set_session_cookies(Response& r, const IssuedSession& s, const Request& req) {
    int64_t max_age = s_.sessions.cookie_max_age(s.session);
    r.add("Set-Cookie", std::string(kSessionCookie) + "=" + s.token + cookie_attrs(max_age) +
                            "; HttpOnly");
    // Keep the CSRF token the browser already has (other tabs use it); mint one if missing.
    std::string csrf = req.cookie(kCsrfCookie).value_or("");
    if (csrf.size() < 16 || csrf.size() > 64) csrf = crypto::random_token(24);
    r.add("Set-Cookie", std::string(kCsrfCookie) + "=" + csrf + cookie_attrs(max_age));
  }

  void clear_session_cookie(Response& r) {
    std::string a = "; Path=/; SameSite=Lax; Max-Age=0";
    if (cfg_.https()) a += "; Secure";
    if (!cfg_.sessions.cookie_domain.empty()) a += "; Domain=" + cfg_.sessions.cookie_domain;
    r.add("Set-Cookie", std::string(kSessionCookie) + "=" + a + "; HttpOnly");
  }

  // Double-submit check for cookie-authenticated state changes. `only_with_cookies`: the
  // sign-in/sign-up forms, which cookie-less API clients may call without a token.
  std::optional<Response> csrf_refusal(const Request& req, bool only_with_cookies) {
    if (is_safe_method(req.method)) return std::nullopt;
    auto session = req.cookie(kSessionCookie);
    auto cookie = req.cookie(kCsrfCookie);
    if (only_with_cookies && !session && !cookie) {
      // A cross-site HTML form cannot send application/json without a CORS preflight.
      auto ct = req.header("content-type").value_or("");
      if (ct.rfind("application/json", 0) == 0) return std::nullopt;
      return error_response(core::Error{Code::kInvalidArgument, "invalid_request",
                                        "Send the body as Content-Type: application/json.", {}, 0});
    }
    auto header = req.header("x-csrf-token");
    if (cookie && header && !cookie->empty() && crypto::ct_equal(*cookie, *header)) {
      return std::nullopt;
    }
    return error_response(core::Error{Code::kPermissionDenied, "csrf",
                                      "Missing or wrong X-CSRF-Token header.", {}, 0});
  }

  struct Authed {
    SessionView view;
    std::string token;
  };

  enum class Need { kFull, kPending };

  // Resolves the session cookie; for state changes also checks CSRF. On failure `error`
  // holds the response to send.
  net::awaitable<std::pair<std::optional<Authed>, Response>> authenticate(const Request& req,
                                                                          Need need) {
    std::pair<std::optional<Authed>, Response> out;
    if (auto refusal = csrf_refusal(req, false)) {
      out.second = std::move(*refusal);
      co_return out;
    }
    auto token = req.cookie(kSessionCookie);
    if (!token || token->empty()) {
      out.second = error_response(not_authenticated());
      co_return out;
    }
    auto r = co_await pools_.db.run([&] { return s_.sessions.resolve(*token); });
    if (!r) {
      out.second = overloaded();
      co_return out;
    }
    if (!*r) {
      out.second = error_response(r->error());
      if (r->error().code == Code::kUnauthenticated) clear_session_cookie(out.second);
      co_return out;
    }
    SessionState want = need == Need::kFull ? SessionState::kFull : SessionState::kPendingSecondFactor;
    if ((*r)->session.state != want) {
      out.second = error_response(need == Need::kFull
          ? not_authenticated()
          : core::Error{Code::kUnauthenticated, "not_authenticated",
                        "There is no sign-in waiting for a second step. Sign in again.", {}, 0});
      co_return out;
    }
    out.first = Authed{std::move(**r), *token};
    co_return out;
  }

  static core::Error not_authenticated() {
    return core::Error{Code::kUnauthenticated, "not_authenticated", "Please sign in.", {}, 0};
  }

  // Runs f on the DB pool and maps Result<T> failure / saturation to a response.
  template <class F>
  auto on_db(F f) -> net::awaitable<std::pair<std::optional<typename std::invoke_result_t<F&>::value_type>, Response>> {
    co_return co_await on_pool(pools_.db, std::move(f));
  }
  template <class F>
  auto on_hash(F f) -> net::awaitable<std::pair<std::optional<typename std::invoke_result_t<F&>::value_type>, Response>> {
    co_return co_await on_pool(pools_.hash, std::move(f));
  }
  template <class F>
  auto on_pool(http::WorkerPool& pool, F f)
      -> net::awaitable<std::pair<std::optional<typename std::invoke_result_t<F&>::value_type>, Response>> {
    using T = typename std::invoke_result_t<F&>::value_type;
    std::pair<std::optional<T>, Response> out;
    auto r = co_await pool.run(std::move(f));
    if (!r) {
      out.second = overloaded();
    } else if (!*r) {
      out.second = error_response(r->error());
    } else {
      out.first = std::move(**r);
    }
    co_return out;
  }

  Response ok_status() { return json_response(200, json{{"status", "ok"}}); }

  json methods_list(const std::vector<store::Method>& ms) {
    json arr = json::array();
    for (const auto& m : ms) arr.push_back(json{{"id", m.id}, {"type", m.type}, {"label", m.label}});
    return arr;
  }

  Response reauth_required() {
    return error_response(core::Error{
        Code::kPermissionDenied, "reauth_required",
        "Confirm it is you: enter your password and a second factor again.", {}, 0});
  }

  // ---- handlers -------------------------------------------------------------
  Awaitable healthz(Request&) { co_return json_response(200, json{{"status", "ok"}}); }

  Awaitable metrics(Request&) {
    co_return Response::text(200, metrics_.render(), "text/plain; version=0.0.4; charset=utf-8");
  }

  Awaitable csrf(Request& req) {
    auto existing = req.cookie(kCsrfCookie);
    std::string token = existing && existing->size() >= 16 && existing->size() <= 64
                            ? *existing : crypto::random_token(24);
    auto r = json_response(200, json{{"csrf", token}});
    if (!existing || *existing != token) {
      r.add("Set-Cookie", std::string(kCsrfCookie) + "=" + token + cookie_attrs(0));
    }
    co_return r;
  }

  Awaitable signup(Request& req) {
    if (auto refusal = csrf_refusal(req, true)) co_return std::move(*refusal);
    if (!cfg_.accounts.open_signup) {
      co_return error_response(core::Error{Code::kPermissionDenied, "signup_disabled",
                                           "Sign-up is disabled on this server.", {}, 0});
    }
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto username = get_string(*body, "username", kMaxUsername);
    if (!username) co_return error_response(username.error());
    auto password = get_string(*body, "password", kMaxPassword);
    if (!password) co_return error_response(password.error());
    auto remember = get_bool(*body, "remember", false);
    if (!remember) co_return error_response(remember.error());
    Client c = client(req);
    const auto& rl = cfg_.rate_limit;
    auto [issued, err] = co_await on_hash([&]() -> core::Result<std::pair<store::User, IssuedSession>> {
      const std::string key = "signup:ip:" + c.ip;
      TS_RETURN_IF_ERROR(s_.throttles.check(key));
      (void)s_.throttles.hit(key, services::ThrottleRule{rl.signup_ip_max, rl.signup_ip_window_s,
                                                         rl.signup_ip_window_s});
      TS_ASSIGN_OR_RETURN(store::User u, s_.accounts.create(*username, *password, c, "signup"));
      TS_ASSIGN_OR_RETURN(IssuedSession s, s_.login.start_session(u, *remember, c));
      s_.audit.record(u.id, "login_succeeded", c, {{"factors", "signup"}});
      return std::make_pair(u, s);
    });
    if (!issued) co_return err;
    auto r = json_response(201, json{{"status", "ok"}, {"user", user_json(issued->first)}});
    set_session_cookies(r, issued->second, req);
    co_return r;
  }

  Awaitable login(Request& req) {
    if (auto refusal = csrf_refusal(req, true)) co_return std::move(*refusal);
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto username = get_string(*body, "username", kMaxUsername);
    if (!username) co_return error_response(username.error());
    auto password = get_string(*body, "password", kMaxPassword);
    if (!password) co_return error_response(password.error());
    auto remember = get_bool(*body, "remember", false);
    if (!remember) co_return error_response(remember.error());
    Client c = client(req);
    auto [outcome, err] = co_await on_hash(
        [&] { return s_.login.password(*username, *password, *remember, c); });
    if (!outcome) co_return err;
    Response r;
    if (outcome->kind == services::LoginOutcome::Kind::kSecondFactor) {
      r = json_response(200, second_factor_body(outcome->methods));
    } else {
      r = json_response(200, json{{"status", "ok"}, {"user", user_json(outcome->user)}});
    }
    // A previous session in this browser ends: the new sign-in replaces it.
    if (auto old = req.cookie(kSessionCookie); old && !old->empty()) {
      std::string old_token = *old;
      co_await pools_.db.run([&, old_token] {
        if (auto v = s_.sessions.resolve(old_token)) (void)s_.sessions.logout(v->session, c);
        return 0;
      });
    }
    set_session_cookies(r, outcome->session, req);
    co_return r;
  }

  json second_factor_body(const std::vector<store::Method>& methods) {
    json j{{"status", "second_factor"}, {"methods", methods_list(methods)}};
    j["default"] = methods.empty() ? json(nullptr) : json(methods.front().id);
    return j;
  }

  Awaitable login_state(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kPending);
    if (!auth) co_return err;
    int64_t uid = auth->view.user.id;
    auto [methods, err2] = co_await on_db([&] { return s_.twofa.active_methods(uid); });
    if (!methods) co_return err2;
    co_return json_response(200, second_factor_body(*methods));
  }

  Awaitable second_factor(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto type = get_string(*body, "type", 32);
    if (!type) co_return error_response(type.error());
    auto code = get_string(*body, "code", kMaxCode);
    if (!code) co_return error_response(code.error());
    auto method_id = get_id(*body, "method_id");
    if (!method_id) co_return error_response(method_id.error());
    if (*type != "totp" && *type != "recovery") {
      co_return error_response(core::Error{Code::kInvalidArgument, "invalid_request",
                                           "type: expected one of totp, recovery.", {}, 0});
    }
    auto [auth, err] = co_await authenticate(req, Need::kPending);
    if (!auth) co_return err;
    Client c = client(req);
    auto [done, err2] = co_await on_db([&] {
      return s_.login.second_factor(auth->view, *type, *code, *method_id, c);
    });
    if (!done) {
      if (err2.status == 401) {
        // The pending sign-in may have ended (too many wrong codes): tell the browser.
        if (err2.body.find("not_authenticated") != std::string::npos) clear_session_cookie(err2);
      }
      co_return err2;
    }
    json j{{"status", "ok"}, {"user", user_json(done->user)}};
    if (done->check.recovery_remaining >= 0) j["recovery_codes_remaining"] = done->check.recovery_remaining;
    auto r = json_response(200, j);
    set_session_cookies(r, done->session, req);
    co_return r;
  }

  Awaitable logout(Request& req) {
    if (auto refusal = csrf_refusal(req, false)) co_return std::move(*refusal);
    auto token = req.cookie(kSessionCookie);
    Client c = client(req);
    if (token && !token->empty()) {
      std::string t = *token;
      auto r = co_await pools_.db.run([&] {
        auto v = s_.sessions.resolve(t);
        if (v) return s_.sessions.logout(v->session, c);
        return core::Status{};
      });
      if (!r) co_return overloaded();
    }
    auto r = ok_status();
    clear_session_cookie(r);
    co_return r;
  }

  Awaitable me(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    int64_t uid = auth->view.user.id;
    struct MeData {
      std::vector<store::Method> methods;
      int remaining = 0;
    };
    auto [data, err2] = co_await on_db([&]() -> core::Result<MeData> {
      MeData d;
      TS_ASSIGN_OR_RETURN(d.methods, s_.twofa.active_methods(uid));
      TS_ASSIGN_OR_RETURN(d.remaining, s_.twofa.recovery_remaining(uid));
      return d;
    });
    if (!data) co_return err2;
    json methods = json::array();
    json def = nullptr;
    for (const auto& m : data->methods) {
      methods.push_back(method_json(m));
      if (m.is_default) def = m.id;
    }
    const auto& s = auth->view.session;
    co_return json_response(
        200, json{{"user", user_json(auth->view.user)},
                  {"twofa_enabled", !data->methods.empty()},
                  {"methods", methods},
                  {"default_method", def},
                  {"recovery_codes_remaining", data->remaining},
                  {"session", {{"id", s.id}, {"remember", s.remember},
                               {"reauth_until", s.auth_at + cfg_.sessions.reauth_window_s}}},
                  {"orgs", json::array()}});
  }

  Awaitable list_sessions(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    int64_t uid = auth->view.user.id;
    auto [list, err2] = co_await on_db([&] { return s_.sessions.list(uid); });
    if (!list) co_return err2;
    json arr = json::array();
    for (const auto& s : *list) {
      arr.push_back(json{{"id", s.id},
                         {"device", services::describe_device(s.user_agent)},
                         {"user_agent", s.user_agent},
                         {"ip", s.ip},
                         {"created_at", s.created_at},
                         {"last_seen_at", s.last_seen_at},
                         {"remember", s.remember},
                         {"current", s.id == auth->view.session.id}});
    }
    co_return json_response(200, json{{"sessions", arr}});
  }

  Awaitable revoke_session(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    Client c = client(req);
    int64_t uid = auth->view.user.id;
    auto [done, err2] = co_await on_db([&]() -> core::Result<int> {
      TS_RETURN_IF_ERROR(s_.sessions.revoke(uid, *id, c));
      return 1;
    });
    if (!done) co_return err2;
    auto r = ok_status();
    if (*id == auth->view.session.id) clear_session_cookie(r);
    co_return r;
  }

  Awaitable verify(Request& req) {
    auto token = req.cookie(kSessionCookie);
    auto deny = [] {
      return json_response(401, json{{"error", "not_authenticated"}, {"message", "Please sign in."}});
    };
    if (!token || token->empty() || token->size() > 128) co_return deny();
    std::string hash = services::Sessions::hash_token(*token);
    std::optional<services::VerifiedUser> v = s_.sessions.verify_cached(hash);
    if (!v) {
      auto r = co_await pools_.db.run([&] { return s_.sessions.verify_slow(hash); });
      if (!r) co_return overloaded();
      if (!*r) {
        if ((*r).error().code == Code::kUnauthenticated) co_return deny();
        co_return error_response((*r).error());
      }
      v = **r;
    }
    if (v->state != SessionState::kFull) co_return deny();
    Response r = Response::text(200, "");
    r.set("X-Twostep-User", v->username);
    co_return r;
  }

  Awaitable audit(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    int limit = 50;
    if (auto l = req.query_param("limit")) {
      try {
        limit = std::clamp(std::stoi(*l), 1, 200);
      } catch (...) {
        co_return error_response(core::Error{Code::kInvalidArgument, "invalid_request",
                                             "limit: expected a number.", {}, 0});
      }
    }
    int64_t uid = auth->view.user.id;
    auto [events, err2] = co_await on_db([&] { return s_.audit.of_user(uid, limit); });
    if (!events) co_return err2;
    json arr = json::array();
    for (const auto& e : *events) {
      json detail = json::parse(e.detail, nullptr, false);
      if (detail.is_discarded()) detail = json::object();
      arr.push_back(json{{"id", e.id}, {"at", e.at}, {"event", e.event}, {"ip", e.ip},
                         {"user_agent", e.user_agent}, {"device", services::describe_device(e.user_agent)},
                         {"detail", detail}});
    }
    co_return json_response(200, json{{"events", arr}});
  }

  Awaitable reauth(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto password = get_string(*body, "password", kMaxPassword);
    if (!password) co_return error_response(password.error());
    auto type = get_string(*body, "type", 32, false);
    if (!type) co_return error_response(type.error());
    auto code = get_string(*body, "code", kMaxCode, false);
    if (!code) co_return error_response(code.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    Client c = client(req);
    auto [issued, err2] = co_await on_hash(
        [&] { return s_.login.reauth(auth->view, *password, *type, *code, c); });
    if (!issued) co_return err2;
    auto r = json_response(200, json{{"status", "ok"},
                                     {"until", issued->session.auth_at + cfg_.sessions.reauth_window_s}});
    set_session_cookies(r, *issued, req);
    co_return r;
  }

  Awaitable add_totp(Request& req) {
    auto body = parse_object(req, true);
    if (!body) co_return error_response(body.error());
    auto label = get_string(*body, "label", 256, false);
    if (!label) co_return error_response(label.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto [e, err2] = co_await on_db([&] { return s_.twofa.begin_totp(auth->view.user, *label); });
    if (!e) co_return err2;
    co_return json_response(201, json{{"method_id", e->method_id},
                                      {"secret", e->secret_base32},
                                      {"otpauth_uri", e->otpauth_uri},
                                      {"qr_svg", e->qr_svg}});
  }

  Awaitable confirm_method(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto code = get_string(*body, "code", kMaxCode);
    if (!code) co_return error_response(code.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    Client c = client(req);
    auto [codes, err2] = co_await on_db([&] { return s_.twofa.confirm(auth->view.user, *id, *code, c); });
    if (!codes) co_return err2;
    co_return json_response(200, json{{"recovery_codes", *codes}});
  }

  Awaitable rename_method(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto label = get_string(*body, "label", 256);
    if (!label) co_return error_response(label.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    Client c = client(req);
    auto [done, err2] = co_await on_db([&]() -> core::Result<int> {
      TS_RETURN_IF_ERROR(s_.twofa.rename(auth->view.user, *id, *label, c));
      return 1;
    });
    if (!done) co_return err2;
    co_return ok_status();
  }

  Awaitable default_method(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    Client c = client(req);
    auto [done, err2] = co_await on_db([&]() -> core::Result<int> {
      TS_RETURN_IF_ERROR(s_.twofa.set_default(auth->view.user, *id, c));
      return 1;
    });
    if (!done) co_return err2;
    co_return ok_status();
  }

  Awaitable remove_method(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    if (!s_.login.recently_authenticated(auth->view.session)) co_return reauth_required();
    Client c = client(req);
    auto [done, err2] = co_await on_db([&]() -> core::Result<int> {
      TS_RETURN_IF_ERROR(s_.twofa.remove(auth->view.user, *id, c));
      return 1;
    });
    if (!done) co_return err2;
    co_return ok_status();
  }

  Awaitable disable_twofa(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    if (!s_.login.recently_authenticated(auth->view.session)) co_return reauth_required();
    Client c = client(req);
    auto [done, err2] = co_await on_db([&]() -> core::Result<int> {
      TS_RETURN_IF_ERROR(s_.twofa.disable(auth->view.user, c, "user_request"));
      return 1;
    });
    if (!done) co_return err2;
    co_return ok_status();
  }

  Awaitable recovery_codes(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    if (!s_.login.recently_authenticated(auth->view.session)) co_return reauth_required();
    Client c = client(req);
    auto [codes, err2] = co_await on_db([&]() -> core::Result<std::vector<std::string>> {
      TS_ASSIGN_OR_RETURN(bool on, s_.twofa.enabled(auth->view.user.id));
      if (!on) {
        return core::fail(Code::kFailedPrecondition, "conflict",
                          "Turn on two-step verification first.");
      }
      return s_.twofa.new_recovery_codes(auth->view.user, c);
    });
    if (!codes) co_return err2;
    co_return json_response(200, json{{"codes", *codes}});
  }

  const core::Config& cfg_;
  Services s_;
  Pools pools_;
  core::Metrics& metrics_;
  StaticFiles static_;
};

}  // namespace

std::shared_ptr<void> add_routes(http::Router& router, const ApiOptions& opts, Services services,
                                 Pools pools, core::Metrics& metrics) {
  auto api = std::make_shared<Api>(opts, services, pools, metrics);
  api->add(router);
  return api;
}

}  // namespace twostep::api
