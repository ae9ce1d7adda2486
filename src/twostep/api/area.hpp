// Shared plumbing for the route areas (accounts, two-factor, and each later capability):
// cookies, CSRF, session resolution and running service calls on the worker pools. An area
// is a class deriving from Area with an add(Router&) that registers its handlers.
#pragma once

#include <utility>  // before Asio headers (Boost 1.74)

#include <optional>
#include <string>

#include "twostep/api/api.hpp"
#include "twostep/api/json.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::api {

namespace net = boost::asio;
using core::Code;
using http::Request;
using http::Response;
using services::Client;
using services::IssuedSession;
using services::SessionView;
using store::SessionState;
using Awaitable = net::awaitable<Response>;

inline constexpr const char* kSessionCookie = "twostep_session";
inline constexpr const char* kCsrfCookie = "twostep_csrf";
inline constexpr size_t kMaxUsername = 256;
inline constexpr size_t kMaxPassword = 1024;  // policy says 256 characters; UTF-8 bytes may be more
inline constexpr size_t kMaxCode = 64;

json user_json(const store::User& u);
// `available`: false when the operator switched the method's type off (it still shows, and can
// be removed, but no longer signs anyone in).
json method_json(const store::Method& m, bool available);
bool is_safe_method(const std::string& m);

// Everything a handler may use; owned by add_routes' handle.
struct ApiContext {
  const core::Config& cfg;
  Services s;
  Pools pools;
  core::Metrics& metrics;
  MetricsAccess metrics_access;
};

class Area {
 public:
  explicit Area(ApiContext& ctx) : ctx_(ctx), cfg_(ctx.cfg), s_(ctx.s), pools_(ctx.pools), metrics_(ctx.metrics) {}
  virtual ~Area() = default;
  virtual void add(http::Router& r) = 0;

 protected:
  template <class Self>
  static http::Handler bind(Self* self, Awaitable (Self::*fn)(Request&)) {
    return [self, fn](Request& req) -> Awaitable { return (self->*fn)(req); };
  }

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

  // kEnrollment: the few routes a session restricted by an organisation's 2FA policy may use
  // to add its first method (GET /me, TOTP enrolment and confirmation); full sessions too.
  enum class Need { kFull, kPending, kEnrollment };

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
    auto r = co_await pools_.db.run([&]() -> core::Result<SessionView> {
      TS_ASSIGN_OR_RETURN(SessionView v, s_.sessions.resolve(*token));
      TS_RETURN_IF_ERROR(s_.orgs.recheck(v));  // a restricted session may be lifted by now
      return v;
    });
    if (!r) {
      out.second = overloaded();
      co_return out;
    }
    if (!*r) {
      out.second = error_response(r->error());
      if (r->error().code == Code::kUnauthenticated) clear_session_cookie(out.second);
      co_return out;
    }
    const SessionState state = (*r)->session.state;
    const bool admitted = need == Need::kPending ? state == SessionState::kPendingSecondFactor
                                                 : state == SessionState::kFull ||
                                                       (need == Need::kEnrollment &&
                                                        state == SessionState::kEnrollmentRequired);
    if (!admitted) {
      if (need == Need::kPending) {
        out.second = error_response(
            core::Error{Code::kUnauthenticated,
                        "not_authenticated",
                        "There is no sign-in waiting for a second step. Sign in again.",
                        {},
                        0});
      } else if (state == SessionState::kEnrollmentRequired) {
        out.second = error_response(
            core::Error{Code::kPermissionDenied,
                        "enrollment_required",
                        "Your organisation requires two-step verification. Add a method first.",
                        {},
                        0});
      } else {
        out.second = error_response(not_authenticated());
      }
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

  // A signed-in user's state change answered with {"status":"ok"}: authenticate (+ CSRF),
  // optionally require a recent re-authentication, read the {param} id when named, then
  // run f(user, id, client) -> Status on the db pool.
  template <class F>
  Awaitable user_action(Request& req, bool needs_reauth, const char* param, F f) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    int64_t id = 0;
    if (param) {
      auto parsed = path_id(req, param);
      if (!parsed) co_return error_response(parsed.error());
      id = *parsed;
    }
    if (needs_reauth && !s_.login.recently_authenticated(auth->view.session)) {
      co_return reauth_required();
    }
    Client c = client(req);
    auto [done, err2] = co_await on_db([&]() -> core::Result<int> {
      TS_RETURN_IF_ERROR(f(auth->view.user, id, c));
      return 1;
    });
    if (!done) co_return err2;
    co_return ok_status();
  }

  // Starts a method that a first code confirms later (TOTP, twostep-auth): reads
  // {"label"?}, admits sessions restricted by an organisation's 2FA policy, runs
  // begin(session view, label, client) -> Result<T> on the db pool and answers 201 with
  // to_json(T).
  template <class Begin, class ToJson>
  Awaitable begin_method(Request& req, Begin begin, ToJson to_json) {
    auto body = parse_object(req, true);
    if (!body) co_return error_response(body.error());
    auto label = get_string(*body, "label", 256, false);
    if (!label) co_return error_response(label.error());
    auto [auth, err] = co_await authenticate(req, Need::kEnrollment);
    if (!auth) co_return err;
    Client c = client(req);
    auto [started, err2] = co_await on_db([&] { return begin(auth->view, *label, c); });
    if (!started) co_return err2;
    co_return json_response(201, to_json(*started));
  }

  Response ok_status() const { return json_response(200, json{{"status", "ok"}}); }

  // ?limit=N for logs: 1..200 (clamped), 50 when absent; 400 when not a number.
  static core::Result<int> limit_param(const Request& req) {
    auto l = req.query_param("limit");
    if (!l) return 50;
    try {
      return std::clamp(std::stoi(*l), 1, 200);
    } catch (...) {
      return core::fail(Code::kInvalidArgument, "invalid_request", "limit: expected a number.");
    }
  }

  // The sign-in step's list: {id, type, label, available}.
  json methods_list(const std::vector<store::Method>& ms) const {
    json arr = json::array();
    for (const auto& m : ms) {
      arr.push_back(json{{"id", m.id},
                         {"type", m.type},
                         {"label", m.label},
                         {"available", s_.twofa.available(m.type)}});
    }
    return arr;
  }

  Response reauth_required() {
    return error_response(core::Error{
        Code::kPermissionDenied, "reauth_required",
        "Confirm it is you: enter your password and a second factor again.", {}, 0});
  }


  ApiContext& ctx_;
  const core::Config& cfg_;
  Services& s_;
  Pools& pools_;
  core::Metrics& metrics_;
};

}  // namespace twostep::api
