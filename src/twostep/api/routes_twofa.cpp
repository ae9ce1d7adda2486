// Two-step verification management: which method types may be added, TOTP enrolment and
// confirmation, rename, default, removal, turning 2FA off, new recovery codes.
#include "twostep/api/area.hpp"
#include "twostep/api/routes.hpp"

namespace twostep::api {
namespace {

class TwoFactorRoutes final : public Area {
 public:
  using Area::Area;
  void add(http::Router& r) override {
    r.add("GET", "/api/v1/methods/available", bind(this, &TwoFactorRoutes::available));
    r.add("POST", "/api/v1/methods/totp", bind(this, &TwoFactorRoutes::add_totp));
    r.add("POST", "/api/v1/methods/{id}/confirm", bind(this, &TwoFactorRoutes::confirm_method));
    r.add("PATCH", "/api/v1/methods/{id}", bind(this, &TwoFactorRoutes::rename_method));
    r.add("POST", "/api/v1/methods/{id}/default", bind(this, &TwoFactorRoutes::default_method));
    r.add("DELETE", "/api/v1/methods/{id}", bind(this, &TwoFactorRoutes::remove_method));
    r.add("DELETE", "/api/v1/twofa", bind(this, &TwoFactorRoutes::disable_twofa));
    r.add("POST", "/api/v1/recovery-codes", bind(this, &TwoFactorRoutes::recovery_codes));
  }

 private:
  // The method types this server lets a user add now (the UI's chooser offers only these).
  // Also for a session an organisation's policy restricts to adding a first method.
  Awaitable available(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kEnrollment);
    if (!auth) co_return err;
    co_return json_response(200, json{{"types", s_.twofa.available_types()}});
  }

  Awaitable add_totp(Request& req) {
    return begin_method(
        req,
        [this](const SessionView& v, const std::string& label, const Client&) {
          return s_.twofa.begin_totp(v.user, label);
        },
        [](const services::TotpEnrollment& e) {
          return json{{"method_id", e.method_id},
                      {"secret", e.secret_base32},
                      {"otpauth_uri", e.otpauth_uri},
                      {"qr_svg", e.qr_svg}};
        });
  }

  Awaitable confirm_method(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto code = get_string(*body, "code", kMaxCode);
    if (!code) co_return error_response(code.error());
    auto [auth, err] = co_await authenticate(req, Need::kEnrollment);
    if (!auth) co_return err;
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    Client c = client(req);
    struct Confirmed {
      std::vector<std::string> codes;
      std::optional<IssuedSession> upgraded;
    };
    auto [done, err2] = co_await on_db([&]() -> core::Result<Confirmed> {
      Confirmed out;
      TS_ASSIGN_OR_RETURN(out.codes, s_.twofa.confirm(auth->view.user, *id, *code, c));
      // The first method of a session restricted by an organisation's policy: it becomes a
      // full session, with a new token.
      if (auth->view.session.state == SessionState::kEnrollmentRequired) {
        TS_ASSIGN_OR_RETURN(out.upgraded, s_.orgs.complete_enrollment(auth->view, c));
      }
      return out;
    });
    if (!done) co_return err2;
    auto r = json_response(200, json{{"recovery_codes", done->codes}});
    if (done->upgraded) set_session_cookies(r, *done->upgraded, req);
    co_return r;
  }

  Awaitable rename_method(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto label = get_string(*body, "label", 256);
    if (!label) co_return error_response(label.error());
    std::string l = *label;
    co_return co_await user_action(req, /*needs_reauth=*/false, "id",
                                   [this, &l](const store::User& u, int64_t id, const Client& c) {
                                     return s_.twofa.rename(u, id, l, c);
                                   });
  }

  Awaitable default_method(Request& req) {
    return user_action(req, /*needs_reauth=*/false, "id",
                       [this](const store::User& u, int64_t id, const Client& c) {
                         return s_.twofa.set_default(u, id, c);
                       });
  }

  Awaitable remove_method(Request& req) {
    return user_action(req, /*needs_reauth=*/true, "id",
                       [this](const store::User& u, int64_t id, const Client& c) {
                         return s_.twofa.remove(u, id, c);
                       });
  }

  Awaitable disable_twofa(Request& req) {
    return user_action(req, /*needs_reauth=*/true, nullptr,
                       [this](const store::User& u, int64_t, const Client& c) {
                         return s_.twofa.disable(u, c, "user_request");
                       });
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
};

}  // namespace

std::unique_ptr<Area> make_twofa_routes(ApiContext& ctx) {
  return std::make_unique<TwoFactorRoutes>(ctx);
}

}  // namespace twostep::api
