#include "twostep/api/routes.hpp"

#include <vector>

#include "twostep/api/static_files.hpp"

namespace twostep::api {

json user_json(const store::User& u) {
  return json{{"id", u.id}, {"username", u.username}, {"created_at", u.created_at}};
}

json method_json(const store::Method& m, bool available) {
  return json{{"id", m.id},
              {"type", m.type},
              {"label", m.label},
              {"created_at", m.created_at},
              {"last_used_at", m.last_used_at},
              {"default", m.is_default},
              {"available", available}};
}

bool is_safe_method(const std::string& m) { return m == "GET" || m == "HEAD" || m == "OPTIONS"; }

namespace {
struct Handle {
  ApiContext ctx;
  StaticFiles static_files;
  std::vector<std::unique_ptr<Area>> areas;
};
}  // namespace

std::shared_ptr<void> add_routes(http::Router& router, const ApiOptions& opts, Services services,
                                 Pools pools, core::Metrics& metrics) {
  auto h = std::make_shared<Handle>(
      Handle{ApiContext{opts.config, services, pools, metrics, opts.metrics_access},
             StaticFiles(opts.web_dir),
             {}});
  auto* ctx = &h->ctx;
  metrics.gauge("twostep_hash_pool_queue_depth", "Password-hashing jobs queued or running.",
                [ctx] { return ctx->pools.hash.depth(); });
  metrics.gauge("twostep_db_pool_queue_depth", "Store jobs queued or running.",
                [ctx] { return ctx->pools.db.depth(); });
  metrics.gauge("twostep_hash_pool_rejected", "Password-hashing jobs refused (queue full).",
                [ctx] { return static_cast<double>(ctx->pools.hash.rejected()); });
  metrics.gauge("twostep_db_pool_rejected", "Store jobs refused (queue full).",
                [ctx] { return static_cast<double>(ctx->pools.db.rejected()); });
  metrics.describe("twostep_login_total", "counter", "Sign-in attempts by outcome.");

  h->areas.push_back(make_account_routes(*ctx));
  h->areas.push_back(make_twofa_routes(*ctx));
  h->areas.push_back(make_sms_routes(*ctx));
  h->areas.push_back(make_org_routes(*ctx));
  h->areas.push_back(make_security_key_routes(*ctx));
  h->areas.push_back(make_app_password_routes(*ctx));
  h->areas.push_back(make_push_routes(*ctx));
  for (auto& a : h->areas) a->add(router);
  if (h->static_files.enabled()) {
    const StaticFiles* sf = &h->static_files;
    router.set_fallback([sf](Request& req) -> Awaitable { co_return sf->serve(req); });
  }
  return h;
}

}  // namespace twostep::api
