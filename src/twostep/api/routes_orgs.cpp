// Organisations: create and list, members and roles, the 2FA policy, the admin reset of a
// member's two-step verification, and the organisation's audit log. Who may do what is the
// Orgs service's business; these handlers parse, call it, and shape the answer.
#include "twostep/api/area.hpp"
#include "twostep/api/routes.hpp"

namespace twostep::api {
namespace {

using services::Actor;
using store::OrgRole;

constexpr size_t kMaxOrgName = 256;  // bytes; the service allows 64 characters once trimmed

json org_json(const store::Org& o) {
  return json{{"id", o.id},
              {"name", o.name},
              {"created_at", o.created_at},
              {"require_2fa", o.require_2fa},
              {"grace_days", o.grace_days},
              {"policy_since", o.require_2fa ? json(o.policy_since) : json(nullptr)}};
}

Result<OrgRole> get_role(const json& body) {
  TS_ASSIGN_OR_RETURN(std::string text, get_string(body, "role", 16));
  auto role = store::parse_org_role(text);
  if (!role) {
    return core::fail(Code::kInvalidArgument, "invalid_request",
                      "role: expected owner, admin or member.");
  }
  return *role;
}

// {"require_2fa": bool (required), "grace_days": 0..365 (default 0)}.
struct Policy {
  bool require_2fa = false;
  int grace_days = 0;
};
Result<Policy> get_policy(const json& body) {
  Policy p;
  auto it = body.find("require_2fa");
  if (it == body.end() || it->is_null()) {
    return core::fail(Code::kInvalidArgument, "invalid_request", "require_2fa: required.");
  }
  TS_ASSIGN_OR_RETURN(p.require_2fa, get_bool(body, "require_2fa", false));
  auto g = body.find("grace_days");
  if (g != body.end() && !g->is_null()) {
    if (!g->is_number_integer() || g->get<int64_t>() < 0 ||
        g->get<int64_t>() > services::kMaxGraceDays) {
      return core::fail(Code::kInvalidArgument, "invalid_request",
                        "grace_days: a whole number of days, 0 to " +
                            std::to_string(services::kMaxGraceDays) + ".");
    }
    p.grace_days = static_cast<int>(g->get<int64_t>());
  }
  return p;
}

class OrgRoutes final : public Area {
 public:
  using Area::Area;
  void add(http::Router& r) override {
    r.add("POST", "/api/v1/orgs", bind(this, &OrgRoutes::create));
    r.add("GET", "/api/v1/orgs", bind(this, &OrgRoutes::mine));
    r.add("GET", "/api/v1/orgs/{id}/members", bind(this, &OrgRoutes::members));
    r.add("POST", "/api/v1/orgs/{id}/members", bind(this, &OrgRoutes::add_member));
    r.add("PATCH", "/api/v1/orgs/{id}/members/{username}", bind(this, &OrgRoutes::set_role));
    r.add("DELETE", "/api/v1/orgs/{id}/members/{username}", bind(this, &OrgRoutes::remove));
    r.add("PUT", "/api/v1/orgs/{id}/policy", bind(this, &OrgRoutes::policy));
    r.add("DELETE", "/api/v1/orgs/{id}/members/{username}/twofa",
          bind(this, &OrgRoutes::reset_twofa));
    r.add("GET", "/api/v1/orgs/{id}/audit", bind(this, &OrgRoutes::audit));
  }

 private:
  static std::string path_username(const Request& req) {
    auto it = req.params.find("username");
    return it == req.params.end() ? std::string() : it->second;
  }

  Awaitable create(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto name = get_string(*body, "name", kMaxOrgName);
    if (!name) co_return error_response(name.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    Client c = client(req);
    const store::User& me = auth->view.user;
    auto [org, err2] =
        co_await on_db([&] { return s_.orgs.create(Actor::of(me), *name, me.username, c); });
    if (!org) co_return err2;
    co_return json_response(201, json{{"id", org->id}, {"name", org->name}});
  }

  Awaitable mine(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    int64_t uid = auth->view.user.id;
    auto [list, err2] = co_await on_db([&] { return s_.orgs.of_user(uid); });
    if (!list) co_return err2;
    json arr = json::array();
    for (const auto& m : *list) {
      json o = org_json(m.org);
      o["role"] = store::org_role_name(m.role);
      o["joined_at"] = m.added_at;
      arr.push_back(std::move(o));
    }
    co_return json_response(200, json{{"orgs", arr}, {"can_create", cfg_.orgs.user_create}});
  }

  Awaitable members(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    const store::User& me = auth->view.user;
    auto [view, err2] = co_await on_db([&] { return s_.orgs.members(Actor::of(me), *id); });
    if (!view) co_return err2;
    json arr = json::array();
    for (const auto& s : view->members) {
      const auto& m = s.member;
      arr.push_back(
          json{{"username", m.username},
               {"role", store::org_role_name(m.role)},
               {"joined_at", m.added_at},
               {"twofa_enabled", !m.method_types.empty()},
               {"method_types", m.method_types},
               {"last_login_at", m.last_login_at},
               {"enrollment_deadline",
                s.enrollment_deadline > 0 ? json(s.enrollment_deadline) : json(nullptr)}});
    }
    co_return json_response(200, json{{"org", org_json(view->org)},
                                      {"role", store::org_role_name(view->viewer_role)},
                                      {"members", arr}});
  }

  Awaitable add_member(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto username = get_string(*body, "username", kMaxUsername);
    if (!username) co_return error_response(username.error());
    auto role = get_role(*body);
    if (!role) co_return error_response(role.error());
    const std::string& name = *username;
    const OrgRole r = *role;
    Response res =
        co_await user_action(req, /*needs_reauth=*/false, "id",
                             [this, &name, &r](const store::User& u, int64_t id, const Client& c) {
                               return s_.orgs.add_member(Actor::of(u), id, name, r, c);
                             });
    if (res.status == 200) res.status = 201;  // a membership was created
    co_return res;
  }

  Awaitable set_role(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto role = get_role(*body);
    if (!role) co_return error_response(role.error());
    const std::string name = path_username(req);
    const OrgRole r = *role;
    co_return co_await user_action(
        req, /*needs_reauth=*/false, "id",
        [this, &name, &r](const store::User& u, int64_t id, const Client& c) {
          return s_.orgs.set_role(Actor::of(u), id, name, r, c);
        });
  }

  Awaitable remove(Request& req) {
    const std::string name = path_username(req);
    co_return co_await user_action(
        req, /*needs_reauth=*/false, "id",
        [this, &name](const store::User& u, int64_t id, const Client& c) {
          return s_.orgs.remove_member(Actor::of(u), id, name, c);
        });
  }

  Awaitable policy(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto p = get_policy(*body);
    if (!p) co_return error_response(p.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    Client c = client(req);
    const store::User& me = auth->view.user;
    auto [org, err2] = co_await on_db(
        [&] { return s_.orgs.set_policy(Actor::of(me), *id, p->require_2fa, p->grace_days, c); });
    if (!org) co_return err2;
    co_return json_response(200, org_json(*org));
  }

  // Body (optional): {"revoke_app_passwords": bool (default true)}.
  Awaitable reset_twofa(Request& req) {
    auto body = parse_object(req, /*allow_empty=*/true);
    if (!body) co_return error_response(body.error());
    auto revoke = get_bool(*body, "revoke_app_passwords", true);
    if (!revoke) co_return error_response(revoke.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    const std::string name = path_username(req);
    // The re-authentication is checked by the service after who-may-do-what, so that a
    // member or an outsider is refused before being asked for their password.
    const bool recent = s_.login.recently_authenticated(auth->view.session);
    Client c = client(req);
    const store::User& me = auth->view.user;
    auto [done, err2] = co_await on_db(
        [&] { return s_.orgs.reset_twofa(Actor::of(me), *id, name, recent, *revoke, c); });
    if (!done) co_return err2;
    co_return json_response(200, json{{"status", "ok"},
                                      {"sessions_ended", done->sessions_ended},
                                      {"app_passwords_revoked", done->app_passwords_revoked}});
  }

  Awaitable audit(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    auto limit = limit_param(req);
    if (!limit) co_return error_response(limit.error());
    const store::User& me = auth->view.user;
    auto [events, err2] =
        co_await on_db([&] { return s_.orgs.audit_log(Actor::of(me), *id, *limit); });
    if (!events) co_return err2;
    json arr = json::array();
    for (const auto& e : *events) {
      arr.push_back(json{{"id", e.id},
                         {"at", e.at},
                         {"event", e.event},
                         {"actor", e.actor_id == 0 ? json("operator") : json(e.actor_name)},
                         {"subject", e.subject_name.empty() ? json(nullptr) : json(e.subject_name)},
                         {"ip", e.ip},
                         {"device", services::describe_device(e.user_agent)},
                         {"detail", stored_object(e.detail)}});
    }
    co_return json_response(200, json{{"events", arr}});
  }
};

}  // namespace

std::unique_ptr<Area> make_org_routes(ApiContext& ctx) { return std::make_unique<OrgRoutes>(ctx); }

}  // namespace twostep::api
