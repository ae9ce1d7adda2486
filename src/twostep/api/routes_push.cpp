// Push approval: enrolment of the twostep-auth companion, its signed requests and event
// stream, approval requests of a pending sign-in (followed by long polling), and approval
// from other signed-in sessions (an event stream or a JSON list, and a decision route).
#include <utility>  // before Asio headers (Boost 1.74)

#include <algorithm>
#include <charconv>
#include <chrono>

#include <boost/asio/this_coro.hpp>

#include "twostep/api/area.hpp"
#include "twostep/api/event_wait.hpp"
#include "twostep/api/routes.hpp"
#include "twostep/factors/push.hpp"
#include "twostep/services/approvals.hpp"

namespace twostep::api {
namespace {

using services::SignedRequest;
using store::ApprovalState;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxToken = 128;
constexpr size_t kMaxKey = 128;
constexpr int kMaxWaitS = 25;  // long polling: below common proxy read timeouts

SignedRequest signed_request(const Request& req) {
  SignedRequest s;
  s.method = req.method;
  s.target = req.target;
  s.body = req.body;
  s.device_id = std::string(req.header(factors::push::kDeviceHeader).value_or(""));
  s.timestamp = std::string(req.header(factors::push::kTimestampHeader).value_or(""));
  s.signature = std::string(req.header(factors::push::kSignatureHeader).value_or(""));
  return s;
}

// {"approve": bool (required), "number": integer or digit string (required to approve)}.
struct Answer {
  bool approve = false;
  std::optional<int> number;
};

core::Result<Answer> parse_answer(const Request& req) {
  TS_ASSIGN_OR_RETURN(json body, parse_object(req));
  auto bad = [](const char* msg) {
    return core::fail(Code::kInvalidArgument, "invalid_request", msg);
  };
  Answer a;
  auto approve = body.find("approve");
  if (approve == body.end() || approve->is_null()) return bad("approve: required.");
  if (!approve->is_boolean()) return bad("approve: expected true or false.");
  a.approve = approve->get<bool>();
  auto number = body.find("number");
  if (number != body.end() && !number->is_null()) {
    int v = -1;
    if (number->is_number_integer()) {
      auto n = number->get<int64_t>();
      if (n >= 0 && n <= 999) v = static_cast<int>(n);
    } else if (number->is_string()) {
      const auto& s = number->get_ref<const std::string&>();
      int n = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec == std::errc() && p == s.data() + s.size() && !s.empty() && s.size() <= 3) v = n;
    }
    if (v < 0) return bad("number: expected a two-digit number.");
    a.number = v;
  }
  if (a.approve && !a.number)
    return bad("number: required to approve (the number shown at sign-in).");
  return a;
}

json choices_json(const store::Approval& a) {
  json arr = json::array();
  if (auto c = factors::push::parse_choices(a.choices)) {
    for (int n : *c) arr.push_back(n);
  }
  return arr;
}

// What approvers see: never the number itself, only the three choices.
json approver_json(const store::Approval& a, const std::string& account) {
  return json{{"id", a.id},
              {"account", account},
              {"choices", choices_json(a)},
              {"ip", a.ip},
              {"device", services::describe_device(a.user_agent)},
              {"user_agent", a.user_agent},
              {"created_at", a.created_at},
              {"expires_at", a.expires_at}};
}

std::string sse_event(const char* event, const json& data) {
  return std::string("event: ") + event +
         "\ndata: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

bool wants_event_stream(const Request& req) {
  if (req.query_param("format").value_or("") == "json") return false;
  auto accept = req.header("accept").value_or("");
  return accept.find("text/event-stream") != std::string_view::npos;
}

class PushRoutes final : public Area {
 public:
  using Area::Area;
  void add(http::Router& r) override {
    r.add("POST", "/api/v1/methods/push", bind(this, &PushRoutes::add_push));
    r.add("POST", "/api/v1/devices/enroll", bind(this, &PushRoutes::enroll));
    r.add("GET", "/api/v1/devices/events", bind(this, &PushRoutes::device_events));
    r.add("GET", "/api/v1/devices/approvals", bind(this, &PushRoutes::device_approvals));
    r.add("POST", "/api/v1/devices/approvals/{id}", bind(this, &PushRoutes::device_decide));
    r.add("POST", "/api/v1/login/approval", bind(this, &PushRoutes::request_approval));
    r.add("GET", "/api/v1/login/approval/{id}", bind(this, &PushRoutes::approval_state));
    r.add("GET", "/api/v1/approvals", bind(this, &PushRoutes::approvals));
    r.add("POST", "/api/v1/approvals/{id}", bind(this, &PushRoutes::session_decide));
  }

 private:
  // --- the authenticator ---------------------------------------------------------

  // Also a first method for a session restricted by an organisation's 2FA policy; the
  // confirmation (POST /methods/{id}/confirm) then lifts the restriction.
  Awaitable add_push(Request& req) {
    return begin_method(
        req,
        [this](const SessionView& v, const std::string& label, const Client& c) {
          return s_.approvals.begin_enrollment(v.user, label, c);
        },
        [](const services::PushEnrollmentStart& e) {
          return json{{"method_id", e.method_id},
                      {"enrollment_uri", e.enrollment_uri},
                      {"qr_svg", e.qr_svg},
                      {"expires_at", e.expires_at}};
        });
  }

  Awaitable enroll(Request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_response(body.error());
    auto token = get_string(*body, "token", kMaxToken);
    if (!token) co_return error_response(token.error());
    auto key = get_string(*body, "public_key", kMaxKey);
    if (!key) co_return error_response(key.error());
    auto seed = get_string(*body, "totp_seed", kMaxKey);
    if (!seed) co_return error_response(seed.error());
    auto name = get_string(*body, "name", 256, false);
    if (!name) co_return error_response(name.error());
    SignedRequest sr = signed_request(req);
    Client c = client(req);
    auto [done, err] =
        co_await on_db([&] { return s_.approvals.enroll(sr, *token, *key, *seed, *name, c); });
    if (!done) co_return err;
    co_return json_response(201, json{{"device_id", done->device_id},
                                      {"method_id", done->method_id},
                                      {"account", done->account},
                                      {"issuer", done->issuer}});
  }

  // Verifies the signed request; on failure `second` is the response.
  net::awaitable<std::pair<std::optional<services::DeviceView>, Response>> device(
      const Request& req) {
    SignedRequest sr = signed_request(req);
    Client c = client(req);
    co_return co_await on_db([&] { return s_.approvals.authenticate_device(sr, c); });
  }

  Awaitable device_events(Request& req) {
    auto [dev, err] = co_await device(req);
    if (!dev) co_return err;
    if (!dev->method.confirmed) co_return not_confirmed();
    co_return event_stream(0, dev->device.device_id, dev->user);
  }

  static Response not_confirmed() {
    return error_response(
        core::Error{Code::kPermissionDenied,
                    "not_confirmed",
                    "Confirm this authenticator on the Security page (enter its code) first.",
                    {},
                    0});
  }

  Awaitable device_approvals(Request& req) {
    auto [dev, err] = co_await device(req);
    if (!dev) co_return err;
    if (!dev->method.confirmed) co_return not_confirmed();
    co_return co_await pending_list(dev->user);
  }

  Awaitable device_decide(Request& req) {
    auto answer = parse_answer(req);
    if (!answer) co_return error_response(answer.error());
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    auto [dev, err] = co_await device(req);
    if (!dev) co_return err;
    if (!dev->method.confirmed) co_return not_confirmed();
    services::Approver who{"push:" + std::to_string(dev->method.id),
                           "authenticator \"" + dev->method.label + "\"", dev->method.id};
    co_return co_await decide(req, dev->user.id, *id, *answer, who);
  }

  // --- the pending sign-in -------------------------------------------------------

  Awaitable request_approval(Request& req) {
    auto body = parse_object(req, true);
    if (!body) co_return error_response(body.error());
    auto method_id = get_id(*body, "method_id");
    if (!method_id) co_return error_response(method_id.error());
    auto [auth, err] = co_await authenticate(req, Need::kPending);
    if (!auth) co_return err;
    Client c = client(req);
    auto [a, err2] =
        co_await on_db([&] { return s_.approvals.request(auth->view, *method_id, c); });
    if (!a) co_return err2;
    co_return json_response(201, json{{"id", a->id},
                                      {"number", a->number},
                                      {"state", "pending"},
                                      {"expires_at", a->expires_at}});
  }

  // {state}; with ?wait=S (1..25) the answer waits for a decision that long. Approved: the
  // sign-in completes here (new full-session cookie). Denied: the pending sign-in ends.
  Awaitable approval_state(Request& req) {
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    int wait_s = 0;
    if (auto w = req.query_param("wait")) {
      auto [p, ec] = std::from_chars(w->data(), w->data() + w->size(), wait_s);
      if (ec != std::errc() || p != w->data() + w->size() || wait_s < 0) {
        co_return error_response(core::Error{
            Code::kInvalidArgument, "invalid_request", "wait: expected seconds (0 to 25).", {}, 0});
      }
      wait_s = std::min(wait_s, kMaxWaitS);
    }
    auto [auth, err] = co_await authenticate(req, Need::kPending);
    if (!auth) co_return err;
    const SessionView& pending = auth->view;

    std::optional<EventWaiter> waiter;
    if (wait_s > 0) {
      // Subscribed before the first read, so a decision in between still wakes us.
      // (No temporaries with destructors inside co_await expressions: see http/pool.hpp.)
      auto ex = co_await net::this_coro::executor;
      const std::string channel = services::user_channel(pending.user.id);
      waiter.emplace(s_.events, channel, ex);
    }
    const auto deadline = SteadyClock::now() + std::chrono::seconds(wait_s);
    std::optional<store::Approval> a;
    for (;;) {
      auto [got, err2] = co_await on_db([&] { return s_.approvals.status(pending, *id); });
      if (!got) co_return err2;
      a = std::move(*got);
      const auto now = SteadyClock::now();
      if (a->state != ApprovalState::kPending || !waiter || now >= deadline) break;
      // Also wake just after it expires, to say so.
      const auto until_expiry =
          std::chrono::seconds(std::max<int64_t>(1, a->expires_at - s_.approvals.now() + 1));
      const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::min<SteadyClock::duration>(deadline - now, until_expiry));
      co_await waiter->wait(timeout + std::chrono::milliseconds(1));
    }

    json body{{"id", a->id}, {"state", store::approval_state_name(a->state)}};
    if (a->state == ApprovalState::kApproved) {
      Client c = client(req);
      const store::Approval& approved = *a;
      auto [done, err3] =
          co_await on_db([&] { return s_.approvals.complete(pending, approved, c); });
      if (!done) co_return err3;
      body["status"] = "ok";
      body["user"] = user_json(done->user);
      auto r = json_response(200, body);
      set_session_cookies(r, done->session, req);
      co_return r;
    }
    if (a->state == ApprovalState::kDenied) {
      // "No" (or a wrong number) ends this sign-in: it starts again with the password.
      Client c = client(req);
      co_await pools_.db.run([&] { return s_.sessions.logout(pending.session, c); });
      auto r = json_response(200, body);
      clear_session_cookie(r);
      co_return r;
    }
    co_return json_response(200, body);
  }

  // --- approvers -----------------------------------------------------------------

  Awaitable approvals(Request& req) {
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    if (!wants_event_stream(req)) co_return co_await pending_list(auth->view.user);
    co_return event_stream(auth->view.session.id, "", auth->view.user);
  }

  Awaitable session_decide(Request& req) {
    auto answer = parse_answer(req);
    if (!answer) co_return error_response(answer.error());
    auto id = path_id(req, "id");
    if (!id) co_return error_response(id.error());
    auto [auth, err] = co_await authenticate(req, Need::kFull);
    if (!auth) co_return err;
    const auto& s = auth->view.session;
    services::Approver who{
        "session:" + std::to_string(s.id),
        "signed-in session (" + services::describe_device(s.user_agent) + ", " + s.ip + ")", 0};
    co_return co_await decide(req, auth->view.user.id, *id, *answer, who);
  }

  Awaitable decide(const Request& req, int64_t user_id, int64_t id, const Answer& answer,
                   const services::Approver& who) {
    Client c = client(req);
    auto [state, err] = co_await on_db(
        [&] { return s_.approvals.decide(user_id, id, answer.approve, answer.number, who, c); });
    if (!state) co_return err;
    co_return json_response(200, json{{"id", id}, {"state", store::approval_state_name(*state)}});
  }

  Awaitable pending_list(const store::User& user) {
    auto [list, err] = co_await on_db([&] { return s_.approvals.pending(user.id); });
    if (!list) co_return err;
    json arr = json::array();
    for (const auto& a : *list) arr.push_back(approver_json(a, user.username));
    co_return json_response(200, json{{"approvals", arr}});
  }

  // --- event streams -------------------------------------------------------------

  // A Server-Sent Events stream of the user's requests for a session (session_id) or an
  // authenticator (device_id). Events: "approval" (a pending request, also each pending one
  // on connect), "decided" ({id, state}), "revoked" (the viewer was signed out or removed;
  // the stream ends). Comments every push.heartbeat_s keep proxies and dead peers honest.
  Response event_stream(int64_t session_id, std::string device_id, store::User user) {
    Response r;
    r.status = 200;
    r.set("Content-Type", "text/event-stream; charset=utf-8");
    // Not a coroutine: the arguments are copied into stream_events' frame.
    r.stream = [this, session_id, device_id = std::move(device_id), user = std::move(user)](
                   http::StreamWriter& w) { return stream_events(w, session_id, device_id, user); };
    return r;
  }

  net::awaitable<bool> viewer_active(int64_t session_id, const std::string& device_id) {
    auto [ok, err] = co_await on_db([&] {
      return device_id.empty() ? s_.approvals.session_active(session_id)
                               : s_.approvals.device_active(device_id);
    });
    co_return ok&&* ok;
  }

  enum class Sent { kOk, kRetry, kGone };

  // Sends the user's pending requests (all, or only `only_id`) if the viewer may still see
  // them. kRetry when the store could not answer (e.g. the pool is full): the stream sends
  // the whole list again at its next beat and clients drop ids they already have.
  net::awaitable<Sent> send_pending(http::StreamWriter& w, int64_t session_id,
                                    const std::string& device_id, const store::User& user,
                                    int64_t only_id) {
    const int64_t uid = user.id;
    auto [list, err] =
        co_await on_db([&] { return s_.approvals.pending_for_viewer(uid, session_id, device_id); });
    if (!list) co_return Sent::kRetry;
    if (!*list) co_return Sent::kOk;  // the viewer was revoked: the next beat ends the stream
    for (const auto& a : **list) {
      if (only_id != 0 && a.id != only_id) continue;
      const std::string event = sse_event("approval", approver_json(a, user.username));
      if (!co_await w.write(event)) co_return Sent::kGone;
    }
    co_return Sent::kOk;
  }

  net::awaitable<void> stream_events(http::StreamWriter& w, int64_t session_id,
                                     std::string device_id, store::User user) {
    // No temporaries with destructors inside co_await expressions (see http/pool.hpp).
    auto ex = co_await net::this_coro::executor;
    const std::string channel = services::user_channel(user.id);
    EventWaiter waiter(s_.events, channel, ex);
    w.on_stop([&waiter] { waiter.stop(); });
    if (!co_await w.write("retry: 3000\n\n")) co_return;
    Sent sent = co_await send_pending(w, session_id, device_id, user, 0);
    if (sent == Sent::kGone) co_return;
    bool resync = sent == Sent::kRetry;
    const auto beat = std::chrono::seconds(cfg_.push.heartbeat_s);
    auto next_beat = SteadyClock::now() + beat;
    for (;;) {
      const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max<SteadyClock::duration>(next_beat - SteadyClock::now(), {}));
      auto woken = co_await waiter.wait(timeout);
      if (waiter.stopped()) co_return;
      for (const auto& payload : woken.events) {
        json ev = json::parse(payload, nullptr, false);
        if (!ev.is_object()) continue;
        const std::string type = ev.value("type", "");
        if (type == "session_revoked" && session_id != 0 &&
            ev.value("session_id", int64_t{0}) == session_id) {
          const std::string event = sse_event("revoked", json{{"reason", "signed_out"}});
          (void)co_await w.write(event);
          co_return;
        }
        // A resync (events may have been lost, e.g. the PostgreSQL bus reconnected): the whole
        // pending list again, as on connect.
        const int64_t id = type == "resync" ? 0 : ev.value("id", int64_t{0});
        if (type == "approval" || type == "resync") {
          sent = co_await send_pending(w, session_id, device_id, user, id);
          if (sent == Sent::kGone) co_return;
          resync = resync || sent == Sent::kRetry;
        } else if (type == "decided") {
          const std::string event =
              sse_event("decided", json{{"id", id}, {"state", ev.value("state", "")}});
          if (!co_await w.write(event)) co_return;
        }
      }
      if (SteadyClock::now() >= next_beat) {
        next_beat = SteadyClock::now() + beat;
        if (!co_await viewer_active(session_id, device_id)) {
          const std::string event = sse_event("revoked", json{{"reason", "revoked"}});
          (void)co_await w.write(event);
          co_return;
        }
        if (!co_await w.write(": ping\n\n")) co_return;
        if (resync) {
          sent = co_await send_pending(w, session_id, device_id, user, 0);
          if (sent == Sent::kGone) co_return;
          resync = sent == Sent::kRetry;
        }
      }
    }
  }
};

}  // namespace

std::unique_ptr<Area> make_push_routes(ApiContext& ctx) {
  return std::make_unique<PushRoutes>(ctx);
}

}  // namespace twostep::api
