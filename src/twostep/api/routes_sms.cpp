// Codes by SMS: enrolment of a mobile number, sending a sign-in or re-authentication code,
// and the regions numbers may belong to. Sending blocks on the gateway, so those jobs run on
// the sms worker pool: the I/O threads and the db pool stay free when a gateway is slow.
// With sms.gateway = "off" every route here answers 409 sms_disabled once the caller is
// authenticated, before any job is queued (the pool then has no threads).
#include "twostep/api/area.hpp"
#include "twostep/api/routes.hpp"

namespace twostep::api {
namespace {

constexpr size_t kMaxPhone = 64;

json sent_json(const services::SmsSent& s) {
  return json{{"status", "sent"},
              {"method_id", s.method_id},
              {"phone", s.masked},
              {"expires_in", s.expires_in_s},
              {"resend_after", s.resend_after_s}};
}

class SmsRoutes final : public Area {
 public:
  explicit SmsRoutes(ApiContext& ctx) : Area(ctx) {
    http::WorkerPool* pool = &ctx.pools.sms;
    metrics_.gauge("twostep_sms_pool_queue_depth", "SMS gateway jobs queued or running.",
                   [pool] { return pool->depth(); });
    metrics_.gauge("twostep_sms_pool_rejected", "SMS gateway jobs refused (queue full).",
                   [pool] { return static_cast<double>(pool->rejected()); });
  }

  void add(http::Router& r) override {
    r.add("POST", "/api/v1/methods/sms", bind(this, &SmsRoutes::enrol));
    r.add("GET", "/api/v1/methods/sms/regions", bind(this, &SmsRoutes::regions));
    r.add("POST", "/api/v1/login/sms", bind(this, &SmsRoutes::login_code));
    r.add("POST", "/api/v1/reauth/sms", bind(this, &SmsRoutes::reauth_code));
  }

 private:
  // {phone, region?, label?} → 201; the code that confirms it goes out by SMS.
  Awaitable enrol(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto phone = get_string(*body, "phone", kMaxPhone);
    if (!phone) co_return error_response(phone.error());
    auto region = get_string(*body, "region", 8, false);
    if (!region) co_return error_response(region.error());
    auto label = get_string(*body, "label", 256, false);
    if (!label) co_return error_response(label.error());
    // Also for a session an organisation's policy restricts to adding a first method.
    auto [auth, err] = co_await authenticate(req, Need::kEnrollment);
    if (!auth) co_return err;
    if (!s_.sms.enabled()) co_return error_response(services::sms_disabled());
    Client c = client(req);
    const services::SmsDeadline deadline = delivery_deadline();
    auto [sent, err2] = co_await on_pool(pools_.sms, [&] {
      return s_.sms.enrol(auth->view.user, *phone, *region, *label, c, deadline);
    });
    if (!sent) co_return err2;
    co_return json_response(201, sent_json(*sent));
  }

  Awaitable regions(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kEnrollment);
    if (!auth) co_return err;
    if (!s_.sms.enabled()) co_return error_response(services::sms_disabled());
    json arr = json::array();
    for (const auto& r : s_.sms.regions()) {
      arr.push_back(json{{"code", r.code}, {"name", r.name}, {"calling_code", r.calling_code}});
    }
    co_return json_response(200, json{{"regions", arr}});
  }

  // With a pending sign-in: {method_id?} → a code to that SMS method (or the first one).
  Awaitable login_code(Request& req) { return send_code(req, Need::kPending); }

  // Signed in, before POST /api/v1/reauth {password, type:"sms", code}.
  Awaitable reauth_code(Request& req) { return send_code(req, Need::kFull); }

  // The whole request gets sms.timeout_ms, the wait for a free sms worker included.
  services::SmsDeadline delivery_deadline() const {
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.sms.timeout_ms);
  }

  Awaitable send_code(Request& req, Need need) {
    auto body = parse_object(req, /*allow_empty=*/true);
    if (!body) co_return error_response(body.error());
    auto method_id = get_id(*body, "method_id");
    if (!method_id) co_return error_response(method_id.error());
    auto [auth, err] = co_await authenticate(req, need);
    if (!auth) co_return err;
    if (!s_.sms.enabled()) co_return error_response(services::sms_disabled());
    Client c = client(req);
    const services::SmsDeadline deadline = delivery_deadline();
    auto [sent, err2] = co_await on_pool(pools_.sms, [&]() -> core::Result<services::SmsSent> {
      // A locked second step sends nothing: no SMS for an attacker who only has the password.
      TS_RETURN_IF_ERROR(s_.login.check_second_factor_lock(auth->view.user.id));
      return s_.sms.send_code(auth->view.user, *method_id, c, deadline);
    });
    if (!sent) co_return err2;
    co_return json_response(200, sent_json(*sent));
  }
};

}  // namespace

std::unique_ptr<Area> make_sms_routes(ApiContext& ctx) { return std::make_unique<SmsRoutes>(ctx); }

}  // namespace twostep::api
