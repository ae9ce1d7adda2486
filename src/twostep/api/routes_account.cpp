// Accounts and sessions: sign-up, sign-in (both steps), sign-out, me, sessions, audit,
// re-authentication, health and metrics. (/api/v1/verify lives with the protocol checks in
// routes_app_passwords.cpp.)
#include <charconv>

#include "twostep/api/area.hpp"
#include "twostep/api/routes.hpp"
#include "twostep/core/text.hpp"

namespace twostep::api {
namespace {

class AccountRoutes final : public Area {
 public:
  using Area::Area;
  void add(http::Router& r) override {
    r.add("GET", "/healthz", bind(this, &AccountRoutes::healthz));
    r.add("GET", "/metrics", bind(this, &AccountRoutes::metrics));
    r.add("GET", "/api/v1/csrf", bind(this, &AccountRoutes::csrf));
    r.add("POST", "/api/v1/signup", bind(this, &AccountRoutes::signup));
    r.add("POST", "/api/v1/login", bind(this, &AccountRoutes::login));
    r.add("GET", "/api/v1/login/state", bind(this, &AccountRoutes::login_state));
    r.add("POST", "/api/v1/login/second-factor", bind(this, &AccountRoutes::second_factor));
    r.add("POST", "/api/v1/logout", bind(this, &AccountRoutes::logout));
    r.add("GET", "/api/v1/me", bind(this, &AccountRoutes::me));
    r.add("GET", "/api/v1/sessions", bind(this, &AccountRoutes::list_sessions));
    r.add("DELETE", "/api/v1/sessions/{id}", bind(this, &AccountRoutes::revoke_session));
    r.add("GET", "/api/v1/audit", bind(this, &AccountRoutes::audit));
    r.add("GET", "/api/v1/admin/audit", bind(this, &AccountRoutes::site_audit));
    r.add("POST", "/api/v1/reauth", bind(this, &AccountRoutes::reauth));
  }

 private:
  struct Credentials {
    std::string username;
    std::string password;
    bool remember = false;
  };
  // {username, password, remember?} as sign-up and sign-in take them.
  static core::Result<Credentials> parse_credentials(const Request& req) {
    TS_ASSIGN_OR_RETURN(json body, parse_object(req));
    Credentials c;
    TS_ASSIGN_OR_RETURN(c.username, get_string(body, "username", kMaxUsername));
    TS_ASSIGN_OR_RETURN(c.password, get_string(body, "password", kMaxPassword));
    TS_ASSIGN_OR_RETURN(c.remember, get_bool(body, "remember", false));
    return c;
  }
  Awaitable healthz(Request&) { co_return json_response(200, json{{"status", "ok"}}); }

  static Response bearer_refusal(const char* reason, const char* message) {
    auto r = error_response(core::Error{Code::kUnauthenticated, reason, message, {}, 0});
    r.set("WWW-Authenticate", "Bearer realm=\"twostep metrics\"");
    return r;
  }

  // Refusals answer at once (see MetricsAccess): nothing is rendered or logged for them.
  Awaitable metrics(Request& req) {
    using V = MetricsAccess::Verdict;
    // Forwarding headers from a peer that is not a trusted proxy (the server did not apply
    // them): the peer is a proxy whose client cannot be known.
    const bool forwarded_untrusted =
        !req.peer_trusted &&
        (req.header("x-forwarded-for") || req.header("forwarded") || req.header("x-real-ip"));
    switch (ctx_.metrics_access.check(req.client_addr, req.header("authorization"),
                                      forwarded_untrusted)) {
      case V::kAllowed:
        break;
      case V::kOff:  // as if there were no such path
        co_return error_response(core::Error{Code::kNotFound, "not_found", "Not found.", {}, 0});
      case V::kAddressRefused:
        co_return error_response(core::Error{Code::kPermissionDenied,
                                             "metrics_not_allowed",
                                             "Metrics are not available to this address.",
                                             {},
                                             0});
      case V::kUntrustedProxy:
        co_return error_response(core::Error{
            Code::kPermissionDenied, "metrics_not_allowed",
            "Metrics are not served through a proxy that is not in server.trusted_proxies.",
            {}, 0});
      case V::kTokenMissing:
        co_return bearer_refusal("not_authenticated",
                                 "Metrics need Authorization: Bearer <token>.");
      case V::kTokenWrong:
        co_return bearer_refusal("invalid_token", "Wrong bearer token for metrics.");
    }
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
    auto creds = parse_credentials(req);
    if (!creds) co_return error_response(creds.error());
    const std::string* username = &creds->username;
    const std::string* password = &creds->password;
    const bool* remember = &creds->remember;
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
    auto creds = parse_credentials(req);
    if (!creds) co_return error_response(creds.error());
    const std::string* username = &creds->username;
    const std::string* password = &creds->password;
    const bool* remember = &creds->remember;
    Client c = client(req);
    auto [outcome, err] = co_await on_hash(
        [&] { return s_.login.password(*username, *password, *remember, c); });
    if (!outcome) co_return err;
    Response r;
    if (outcome->kind == services::LoginOutcome::Kind::kSecondFactor) {
      const int64_t uid = outcome->user.id;
      const int64_t sid = outcome->session.session.id;
      auto [avail, ignored] = co_await on_db([&] { return s_.approvals.availability(uid, sid); });
      r = json_response(200, second_factor_body(outcome->methods, avail));
    } else if (outcome->kind == services::LoginOutcome::Kind::kEnrollmentRequired) {
      r = json_response(200, json{{"status", "enrollment_required"},
                                  {"user", user_json(outcome->user)},
                                  {"enrollment", enrollment_json(outcome->enrollment)}});
    } else {
      json j{{"status", "ok"}, {"user", user_json(outcome->user)}};
      if (outcome->enrollment) j["enrollment"] = enrollment_json(outcome->enrollment);
      r = json_response(200, j);
    }
    // A previous session in this browser ends: the new sign-in replaces it.
    if (auto old = req.cookie(kSessionCookie); old && !old->empty()) {
      std::string old_token = *old;
      co_await pools_.db.run([&] {
        if (auto v = s_.sessions.resolve(old_token)) (void)s_.sessions.logout(v->session, c);
        return 0;
      });
    }
    set_session_cookies(r, outcome->session, req);
    co_return r;
  }

  // {"required":true,"deadline":t,"org":{"id","name"}}, or null when no organisation
  // requires a second factor of this user (or they have one).
  json enrollment_json(const std::optional<services::EnrollmentRequirement>& e) const {
    if (!e) return nullptr;
    return json{{"required", true},
                {"deadline", e->deadline},
                {"org", {{"id", e->org_id}, {"name", e->org_name}}}};
  }

  // `approval`: whether the user's authenticators or other signed-in sessions can approve
  // this sign-in (POST /login/approval), and whether the page should start with that.
  json second_factor_body(const std::vector<store::Method>& methods,
                          const std::optional<services::ApprovalAvailability>& approval) {
    json j{{"status", "second_factor"}, {"methods", methods_list(methods)}};
    j["default"] = methods.empty() ? json(nullptr) : json(methods.front().id);
    services::ApprovalAvailability a = approval.value_or(services::ApprovalAvailability{});
    j["approval"] = json{{"available", a.available()},
                         {"preferred", a.available() && a.preferred},
                         {"devices", a.devices},
                         {"sessions", a.sessions}};
    return j;
  }

  Awaitable login_state(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kPending);
    if (!auth) co_return err;
    int64_t uid = auth->view.user.id;
    int64_t sid = auth->view.session.id;
    auto [methods, err2] = co_await on_db([&] { return s_.twofa.active_methods(uid); });
    if (!methods) co_return err2;
    auto [avail, ignored] = co_await on_db([&] { return s_.approvals.availability(uid, sid); });
    co_return json_response(200, second_factor_body(*methods, avail));
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
    // The type itself is checked by the two-factor service, which knows every method.
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
        if (!v) return core::Status{};
        auto st = s_.sessions.logout(v->session, c);
        // Its open approval streams end at once.
        if (st)
          s_.events.publish(services::user_channel(v->user.id),
                            services::session_revoked_event(v->session.id));
        return st;
      });
      if (!r) co_return overloaded();
    }
    auto r = ok_status();
    clear_session_cookie(r);
    co_return r;
  }

  Awaitable me(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kEnrollment);
    if (!auth) co_return err;
    int64_t uid = auth->view.user.id;
    struct MeData {
      std::vector<store::Method> methods;
      int remaining = 0;
      std::vector<store::OrgMembership> orgs;
      std::optional<services::EnrollmentRequirement> enrollment;
    };
    auto [data, err2] = co_await on_db([&]() -> core::Result<MeData> {
      MeData d;
      TS_ASSIGN_OR_RETURN(d.methods, s_.twofa.active_methods(uid));
      TS_ASSIGN_OR_RETURN(d.remaining, s_.twofa.recovery_remaining(uid));
      TS_ASSIGN_OR_RETURN(d.orgs, s_.orgs.of_user(uid));
      if (d.methods.empty()) {
        TS_ASSIGN_OR_RETURN(d.enrollment, s_.orgs.requirement(uid));
      }
      return d;
    });
    if (!data) co_return err2;
    json methods = json::array();
    json def = nullptr;
    for (const auto& m : data->methods) {
      methods.push_back(method_json(m, s_.twofa.available(m.type)));
      if (m.is_default) def = m.id;
    }
    json orgs = json::array();
    for (const auto& m : data->orgs) {
      orgs.push_back(
          json{{"id", m.org.id}, {"name", m.org.name}, {"role", store::org_role_name(m.role)}});
    }
    const auto& s = auth->view.session;
    const bool restricted = s.state == SessionState::kEnrollmentRequired;
    co_return json_response(200,
                            json{{"user", user_json(auth->view.user)},
                                 {"twofa_enabled", !data->methods.empty()},
                                 {"methods", methods},
                                 {"default_method", def},
                                 {"recovery_codes_remaining", data->remaining},
                                 {"session",
                                  {{"id", s.id},
                                   {"remember", s.remember},
                                   {"state", restricted ? "enrollment_required" : "full"},
                                   {"reauth_until", s.auth_at + cfg_.sessions.reauth_window_s}}},
                                 {"orgs", orgs},
                                 {"site_admin", cfg_.site_admin(auth->view.user.username)},
                                 {"enrollment", enrollment_json(data->enrollment)}});
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
      s_.events.publish(services::user_channel(uid), services::session_revoked_event(*id));
      return 1;
    });
    if (!done) co_return err2;
    auto r = ok_status();
    if (*id == auth->view.session.id) clear_session_cookie(r);
    co_return r;
  }

  Awaitable audit(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto limit = limit_param(req);
    if (!limit) co_return error_response(limit.error());
    int64_t uid = auth->view.user.id;
    auto [events, err2] = co_await on_db([&] { return s_.audit.of_user(uid, *limit); });
    if (!events) co_return err2;
    co_return json_response(200, events_json(*events, /*with_user=*/false));
  }

  // {"events":[{id, at, user?, event, ip, user_agent, device, detail}]}; `user` (the username,
  // null for entries of no account) only in the site log.
  static json events_json(const std::vector<store::AuditEvent>& events, bool with_user) {
    json arr = json::array();
    for (const auto& e : events) {
      json j{{"id", e.id}, {"at", e.at}};
      if (with_user) j["user"] = e.username.empty() ? json(nullptr) : json(e.username);
      j["event"] = e.event;
      j["ip"] = e.ip;
      j["user_agent"] = e.user_agent;
      j["device"] = services::describe_device(e.user_agent);
      j["detail"] = stored_object(e.detail);
      arr.push_back(std::move(j));
    }
    return json{{"events", arr}};
  }

  // A whole number from the query string in [min, max], or `fallback` when absent; anything
  // else is a 400 naming the parameter.
  static core::Result<int64_t> int_param(const Request& req, const char* name, int64_t min,
                                         int64_t max, int64_t fallback) {
    auto text = req.query_param(name);
    if (!text) return fallback;
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (text->empty() || ec != std::errc() || end != text->data() + text->size() || v < min ||
        v > max) {
      return core::fail(Code::kInvalidArgument, "invalid_request",
                        std::string(name) + ": expected a whole number from " +
                            std::to_string(min) + " to " + std::to_string(max) + ".");
    }
    return v;
  }

  // The site's whole security log, for a site administrator ([admin] users) with two-step
  // verification on.
  Awaitable site_audit(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    const int64_t uid = auth->view.user.id;
    if (!cfg_.site_admin(auth->view.user.username)) {
      co_return error_response(core::Error{Code::kPermissionDenied, "forbidden",
                                           "Only site administrators can read the site log.",
                                           {}, 0});
    }
    auto [methods, err2] = co_await on_db([&] { return s_.twofa.active_methods(uid); });
    if (!methods) co_return err2;
    if (methods->empty()) {
      co_return error_response(core::Error{
          Code::kPermissionDenied, "forbidden",
          "Turn on two-step verification to read the site log as a site administrator.", {}, 0});
    }
    store::AuditFilter filter;
    auto limit = int_param(req, "limit", 1, store::kMaxAuditPage, 100);
    if (!limit) co_return error_response(limit.error());
    filter.limit = static_cast<int>(*limit);
    auto since = int_param(req, "since", 0, int64_t{1} << 40, 0);
    if (!since) co_return error_response(since.error());
    filter.since = *since;
    filter.event = req.query_param("event").value_or("");
    if (req.query_param("event") && !core::is_event_name(filter.event)) {
      co_return error_response(core::Error{
          Code::kInvalidArgument, "invalid_request",
          "event: expected an event name (a-z, 0-9 and _, at most 64 characters).", {}, 0});
    }
    const std::string user = req.query_param("user").value_or("");
    if (user.size() > kMaxUsername) {
      co_return error_response(core::Error{Code::kInvalidArgument, "invalid_request",
                                           "user: too long.", {}, 0});
    }
    Client c = client(req);
    auto [events, err3] =
        co_await on_db([&] { return s_.audit.site_for_admin(uid, user, filter, c); });
    if (!events) co_return err3;
    co_return json_response(200, events_json(*events, /*with_user=*/true));
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
};

}  // namespace

std::unique_ptr<Area> make_account_routes(ApiContext& ctx) {
  return std::make_unique<AccountRoutes>(ctx);
}

}  // namespace twostep::api
