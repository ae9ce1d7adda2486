// Application passwords and protocol checks: managing a user's application passwords, the
// protocol servers' password check (/api/v1/app-auth, for Dovecot's checkpassword), nginx
// auth_request (/api/v1/verify: session cookie, or HTTP Basic for WebDAV clients), and the
// check of the sign-in page's return address.
#include "twostep/api/area.hpp"
#include "twostep/api/routes.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/services/return_url.hpp"

namespace twostep::api {
namespace {

using services::ProtocolUser;

struct BasicCredentials {
  std::string username;
  std::string password;
};

// "Basic base64(user:password)" (RFC 7617); nullopt for anything else or oversized parts.
std::optional<BasicCredentials> parse_basic(std::string_view header) {
  constexpr size_t kMaxHeader = 4096;
  if (header.size() > kMaxHeader || header.size() < 7) return std::nullopt;
  if (!http::iequals(header.substr(0, 6), "basic ")) return std::nullopt;
  std::string_view b64 = header.substr(6);
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
  auto decoded = crypto::base64_decode(b64);
  if (!decoded) return std::nullopt;
  size_t colon = decoded->find(':');
  std::optional<BasicCredentials> out;
  if (colon != std::string::npos && colon > 0 && colon <= kMaxUsername &&
      decoded->size() - colon - 1 <= kMaxPassword && decoded->size() > colon + 1) {
    out = BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
  }
  core::secure_zero(decoded->data(), decoded->size());
  return out;
}

json app_password_json(const store::AppPassword& p) {
  return json{{"id", p.id},
              {"name", p.name},
              {"scopes", services::split_scopes(p.scopes)},
              {"created_at", p.created_at},
              {"last_used_at", p.last_used_at},
              {"last_used_ip", p.last_used_ip}};
}

core::Error busy() {
  return core::Error{
      Code::kUnavailable, "overloaded", "The server is busy. Try again in a moment.", {}, 1};
}

class AppPasswordRoutes final : public Area {
 public:
  using Area::Area;
  void add(http::Router& r) override {
    metrics_.describe("twostep_app_auth_total", "counter",
                      "Protocol sign-in checks (app-auth, Basic on verify) by outcome.");
    r.add("GET", "/api/v1/app-passwords", bind(this, &AppPasswordRoutes::list));
    r.add("POST", "/api/v1/app-passwords", bind(this, &AppPasswordRoutes::create));
    r.add("DELETE", "/api/v1/app-passwords/{id}", bind(this, &AppPasswordRoutes::revoke));
    r.add("POST", "/api/v1/app-auth", bind(this, &AppPasswordRoutes::app_auth));
    r.add("GET", "/api/v1/verify", bind(this, &AppPasswordRoutes::verify));
    r.add("GET", "/api/v1/return-url", bind(this, &AppPasswordRoutes::return_url));
  }

 private:
  // --- managing ------------------------------------------------------------------------------
  Awaitable list(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    int64_t uid = auth->view.user.id;
    auto [all, err2] = co_await on_db([&] { return s_.app_passwords.list(uid); });
    if (!all) co_return err2;
    json arr = json::array();
    for (const auto& p : *all) arr.push_back(app_password_json(p));
    co_return json_response(200, json{{"app_passwords", arr}, {"max", services::kMaxAppPasswords}});
  }

  static core::Result<std::vector<std::string>> get_scopes(const json& body) {
    auto it = body.find("scopes");
    if (it == body.end() || it->is_null()) {
      return core::fail(Code::kInvalidArgument, "invalid_request", "scopes: required.");
    }
    if (!it->is_array() || it->size() > 8) {
      return core::fail(Code::kInvalidArgument, "invalid_request",
                        "scopes: expected an array of mail, dav, all.");
    }
    std::vector<std::string> out;
    for (const auto& s : *it) {
      if (!s.is_string() || s.get_ref<const std::string&>().size() > 16) {
        return core::fail(Code::kInvalidArgument, "invalid_request",
                          "scopes: expected an array of mail, dav, all.");
      }
      out.push_back(s.get<std::string>());
    }
    return out;
  }

  // Creating one needs a recent re-authentication: an application password outlives the
  // session and skips the second factor, so a stolen session cookie alone must not mint one.
  Awaitable create(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto name = get_string(*body, "name", 256);
    if (!name) co_return error_response(name.error());
    auto scopes = get_scopes(*body);
    if (!scopes) co_return error_response(scopes.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    if (!s_.login.recently_authenticated(auth->view.session)) co_return reauth_required();
    Client c = client(req);
    auto [created, err2] =
        co_await on_db([&] { return s_.app_passwords.create(auth->view.user, *name, *scopes, c); });
    if (!created) co_return err2;
    co_return json_response(201, json{{"password", created->password},
                                      {"app_password", app_password_json(created->record)}});
  }

  Awaitable revoke(Request& req) {
    return user_action(req, /*needs_reauth=*/false, "id",
                       [this](const store::User& u, int64_t id, const Client& c) {
                         return s_.app_passwords.revoke(u, id, c);
                       });
  }

  // --- protocol checks -----------------------------------------------------------------------
  // The cheap application-password check on the db pool; when the password is not one, the
  // main password (Argon2id) on the hash pool.
  net::awaitable<core::Result<ProtocolUser>> protocol_check(const std::string& username,
                                                            const std::string& password,
                                                            const std::string& scope,
                                                            const Client& c) {
    auto app = co_await pools_.db.run(
        [&] { return s_.app_passwords.check_app_password(username, password, scope, c); });
    if (!app) co_return tl::unexpected(busy());
    if (!*app) co_return tl::unexpected((*app).error());
    if (**app) co_return ***app;
    auto main = co_await pools_.hash.run(
        [&] { return s_.app_passwords.check_main_password(username, password, scope, c); });
    if (!main) co_return tl::unexpected(busy());
    co_return std::move(*main);
  }

  Awaitable app_auth(Request& req) {
    // Protocol servers send no cookies; a browser that does must send the CSRF token too.
    if (auto refusal = csrf_refusal(req, true)) co_return std::move(*refusal);
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto username = get_string(*body, "username", kMaxUsername);
    if (!username) co_return error_response(username.error());
    auto password = get_string(*body, "password", kMaxPassword);
    if (!password) co_return error_response(password.error());
    auto service = get_string(*body, "service", 32);
    if (!service) co_return error_response(service.error());
    auto scope = services::scope_for_service(*service, "service");
    if (!scope) co_return error_response(scope.error());
    Client c = client(req);
    auto user = co_await protocol_check(*username, *password, *scope, c);
    core::secure_zero(password->data(), password->size());
    if (!user) co_return error_response(user.error());
    co_return json_response(200,
                            json{{"status", "ok"},
                                 {"user", user->username},
                                 {"via", user->app_password_id ? "app_password" : "password"}});
  }

  // 401 for nginx auth_request. WWW-Authenticate makes WebDAV clients ask for a password;
  // X-Twostep-Redirect is the sign-in page with the original URL (X-Original-URL, set in the
  // nginx configuration) as `rd`, for browsers. The body keeps the {"error","message"} shape.
  Response deny(const Request& req, const core::Error* why = nullptr, int status = 401) {
    auto r = json_response(status, json{{"error", why ? why->reason : "not_authenticated"},
                                        {"message", why ? why->message : "Please sign in."}});
    if (status == 401) r.set("WWW-Authenticate", "Basic realm=\"twostep\", charset=\"UTF-8\"");
    r.set("X-Twostep-Redirect",
          services::signin_url(cfg_, req.header("x-original-url").value_or("")));
    return r;
  }

  static Response allow(const std::string& username) {
    Response r = Response::text(200, "");
    r.set("X-Twostep-User", username);
    return r;
  }

  Awaitable verify(Request& req) {
    // The session-cookie path first, exactly as fast as before: the benchmark baseline.
    auto token = req.cookie(kSessionCookie);
    if (token && !token->empty() && token->size() <= 128) {
      const crypto::Sha256Digest digest = services::Sessions::token_digest(*token);
      std::optional<services::VerifiedUser> v = s_.sessions.verify_cached(digest);
      if (!v) {
        auto r = co_await pools_.db.run([&] { return s_.sessions.verify_slow(digest); });
        if (!r) co_return overloaded();
        if (*r) {
          v = **r;
        } else if ((*r).error().code != Code::kUnauthenticated) {
          co_return error_response((*r).error());
        }
      }
      if (v && v->state == SessionState::kFull) co_return allow(v->username);
    }
    auto authorization = req.header("authorization");
    if (!authorization) co_return deny(req);
    co_return co_await verify_basic(req, *authorization);
  }

  // HTTP Basic with an application password (or, where allowed, the main password). The scope
  // comes from X-Twostep-Scope, set per location in the nginx configuration; without it only
  // passwords with scope "all" pass. Successes are cached per (scope, header) (see
  // AppPasswords::remember for how long); the generation read before the check keeps a
  // revocation made meanwhile from being undone by caching.
  Awaitable verify_basic(Request& req, std::string_view authorization) {
    std::string scope = "all";
    if (auto header = req.header("x-twostep-scope")) {
      auto s = services::scope_for_service(*header, "X-Twostep-Scope");
      // A configuration error: nginx turns this into a 500, which its error log explains.
      if (!s) co_return error_response(s.error());
      scope = *s;
    }
    const crypto::Sha256Digest key = services::AppPasswords::cache_key(scope, authorization);
    if (auto hit = s_.app_passwords.cached(key)) co_return allow(hit->username);
    const uint64_t generation = s_.app_passwords.cache_generation();
    auto creds = parse_basic(authorization);
    if (!creds) co_return deny(req);
    Client c = client(req);
    auto user = co_await protocol_check(creds->username, creds->password, scope, c);
    core::secure_zero(creds->password.data(), creds->password.size());
    if (!user) {
      const core::Error& e = user.error();
      switch (e.code) {
        case Code::kUnauthenticated:
        case Code::kResourceExhausted:  // auth_request passes only 401 and 403 on
        case Code::kInvalidArgument:
          co_return deny(req, &e);
        case Code::kPermissionDenied:
          co_return deny(req, &e, 403);
        default:
          co_return error_response(e);
      }
    }
    s_.app_passwords.remember(key, *user, generation);
    Response r = allow(user->username);
    r.set("X-Twostep-Auth", user->app_password_id ? "app_password" : "password");
    co_return r;
  }

  // The sign-in page asks before following ?rd=: only addresses within the configured domain.
  Awaitable return_url(Request& req) {
    auto rd = req.query_param("rd");
    auto safe = services::safe_return_url(cfg_, rd.value_or(""));
    if (!safe) {
      co_return error_response(
          core::Error{Code::kInvalidArgument,
                      "invalid_redirect",
                      "That return address is outside this site; you stay here after signing in.",
                      {},
                      0});
    }
    co_return json_response(200, json{{"url", *safe}});
  }
};

}  // namespace

std::unique_ptr<Area> make_app_password_routes(ApiContext& ctx) {
  return std::make_unique<AppPasswordRoutes>(ctx);
}

}  // namespace twostep::api
