#include <utility>  // before Asio headers (Boost 1.74)

#include "twostep/app/app.hpp"

#include <unistd.h>

#include <cstdio>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "twostep/api/api.hpp"
#include "twostep/core/log.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/events/pg_event_bus.hpp"
#include "twostep/http/pool.hpp"
#include "twostep/http/server.hpp"

namespace twostep::app {
namespace net = boost::asio;
using core::Code;
using core::fail;

core::Result<std::pair<std::string, uint16_t>> split_host_port(const std::string& listen) {
  std::string host;
  std::string port;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return fail(Code::kInvalidArgument, "invalid_config", "server.listen: expected [ADDR]:PORT");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return fail(Code::kInvalidArgument, "invalid_config", "server.listen: expected ADDR:PORT");
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  int p = -1;
  try {
    size_t used = 0;
    p = std::stoi(port, &used);
    if (used != port.size()) p = -1;
  } catch (...) {
    p = -1;
  }
  if (p < 0 || p > 65535 || host.empty()) {
    return fail(Code::kInvalidArgument, "invalid_config", "server.listen: bad address or port '" + listen + "'");
  }
  return std::make_pair(host, static_cast<uint16_t>(p));
}

core::Result<std::unique_ptr<App>> App::open(core::Config config) {
  std::unique_ptr<App> app(new App(std::move(config)));
  const auto& cfg = app->config_;
  core::LogLevel level;
  if (core::parse_log_level(cfg.server.log_level, &level)) core::set_log_level(level);

  TS_ASSIGN_OR_RETURN(crypto::Keyring keyring, crypto::Keyring::load_or_create(cfg.security.master_key_file));
  app->keyring_ = std::make_unique<crypto::Keyring>(std::move(keyring));
  TS_ASSIGN_OR_RETURN(app->store_, store::open_store(cfg.database.url,
                                                     store::StoreOptions{cfg.database.pool_size}));
  // Events between instances: LISTEN/NOTIFY when they share a PostgreSQL database, in-process
  // otherwise (one SQLite file is one instance).
  if (cfg.database.url.rfind("postgres", 0) == 0) {
    auto bus = std::make_unique<events::PgEventBus>(cfg.database.url, app->metrics_);
    app->pg_events_ = bus.get();
    app->events_ = std::move(bus);
  } else {
    app->events_ = std::make_unique<services::InProcessEventBus>();
  }
  TS_ASSIGN_OR_RETURN(int version, app->store_->migrate());
  LOG_DEBUG("database ready schema_version=" << version);
  // Keyed hashes written before key ids were recorded were made with the key that is current
  // now (no rotation tool existed, and `twostep key rotate` pins them before it adds a key).
  TS_ASSIGN_OR_RETURN(int64_t pinned,
                      app->store_->pin_legacy_key_ids(app->keyring_->current_id()));
  if (pinned > 0) {
    LOG_INFO("recorded master key id " << app->keyring_->current_id() << " for " << pinned
                                       << " stored hashes written before key ids were kept");
  }

  services::Deps deps{*app->store_, app->clock_, *app->keyring_, app->config_, app->metrics_};
  app->audit_ = std::make_unique<services::Audit>(deps);
  app->throttles_ = std::make_unique<services::Throttles>(deps);
  app->sessions_ = std::make_unique<services::Sessions>(deps, *app->audit_);
  app->sessions_->attach_events(*app->events_);
  app->twofa_ = std::make_unique<services::TwoFactor>(deps, *app->audit_);
  app->orgs_ = std::make_unique<services::Orgs>(deps, *app->audit_, *app->sessions_, *app->twofa_,
                                                *app->throttles_);
  app->login_ = std::make_unique<services::Login>(deps, *app->audit_, *app->sessions_, *app->twofa_,
                                                  *app->throttles_, app->orgs_.get());
  try {
    app->security_keys_ =
        std::make_unique<services::SecurityKeys>(deps, *app->audit_, *app->twofa_, *app->login_);
  } catch (const std::invalid_argument& e) {
    return fail(Code::kInvalidArgument, "invalid_config", e.what());
  }
  TS_RETURN_IF_ERROR(services::check_sms_config(cfg));
  TS_ASSIGN_OR_RETURN(app->sms_gateway_, services::make_sms_gateway(cfg.sms));
  app->sms_ = std::make_unique<services::Sms>(deps, *app->audit_, *app->twofa_, *app->sms_gateway_);
  app->app_passwords_ = std::make_unique<services::AppPasswords>(
      deps, *app->audit_, *app->throttles_, *app->twofa_, app->orgs_.get());
  app->app_passwords_->attach_events(*app->events_);
  app->orgs_->attach_app_passwords(*app->app_passwords_);
  app->accounts_ = std::make_unique<services::Accounts>(deps, *app->audit_, *app->sessions_,
                                                        *app->app_passwords_);
  app->approvals_ = std::make_unique<services::Approvals>(
      deps, *app->audit_, *app->twofa_, *app->login_, *app->throttles_, *app->events_);
  return app;
}

App::~App() = default;

core::Status App::announce_changes() {
  return pg_events_ != nullptr ? pg_events_->send_pending() : core::Status{};
}

namespace {
// This process's row of the instances table: who it is and which master keys it loaded.
store::Instance describe_instance(const core::Config& cfg, const crypto::Keyring& keyring,
                                  const std::string& listen, int64_t now) {
  store::Instance i;
  i.id = crypto::hex_encode(crypto::random_bytes(8));
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  i.host = host[0] != '\0' ? host : "unknown";
  i.pid = static_cast<int64_t>(getpid());
  i.version = TWOSTEP_VERSION;
  i.listen = listen;
  for (uint32_t id : keyring.ids()) i.key_ids += (i.key_ids.empty() ? "" : ",") + std::to_string(id);
  i.current_key_id = keyring.current_id();
  i.heartbeat_s = cfg.server.heartbeat_s;
  i.started_at = now;
  i.seen_at = now;
  return i;
}

constexpr int64_t kPurgeEveryS = 5 * 60;
constexpr int64_t kForgetInstanceAfterS = 24 * 60 * 60;

// Every heartbeat: this instance's row again (seen_at = now). Every 5 minutes: the purges, and
// rows of instances unseen for a day.
net::awaitable<void> housekeeping(services::Sessions& sessions, services::TwoFactor& twofa,
                                  services::Orgs& orgs, services::SecurityKeys& keys,
                                  services::Sms& sms, services::Approvals& approvals,
                                  services::AppPasswords& app_passwords, store::Store& storage,
                                  store::Instance& self, const core::Clock& clock,
                                  http::WorkerPool& db) {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex);
  int64_t last_purge = clock.unix_now();
  for (;;) {
    timer.expires_after(std::chrono::seconds(self.heartbeat_s));
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    const int64_t now = clock.unix_now();
    co_await db.run([&] {
      self.seen_at = now;
      if (auto st = storage.put_instance(self); !st) {
        LOG_WARN("instance heartbeat not written: " << st.error().message);
      }
      return 0;
    });
    if (now - last_purge < kPurgeEveryS) continue;
    last_purge = now;
    co_await db.run([&] {
      (void)storage.delete_instances_seen_before(now - kForgetInstanceAfterS);
      sessions.purge_expired();
      twofa.purge_unconfirmed();
      orgs.enforce_deadlines();  // grace periods that ended since the last round
      keys.purge_expired();
      sms.purge();
      approvals.purge();
      app_passwords.purge_cache();
      return 0;
    });
  }
}
}  // namespace

int App::serve() {
  const auto& cfg = config_;
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int hash_threads = cfg.security.hash_threads > 0 ? cfg.security.hash_threads : cores;
  http::WorkerPool hash_pool("hash", hash_threads, cfg.security.hash_queue, /*nice=*/10);
  http::WorkerPool db_pool("db", std::max(1, cfg.security.db_threads), cfg.security.db_queue);
  // Gateway calls wait on the network for seconds: their own small pool, so that a slow
  // provider fills this queue (503) and never the db pool or the I/O threads. With SMS off
  // the routes refuse before queueing anything: no threads, and a job would be a 503.
  const bool sms_off = services::sms_off(cfg.sms);
  http::WorkerPool sms_pool("sms", sms_off ? 0 : cfg.sms.threads, sms_off ? 0 : cfg.sms.queue);
  if (cfg.sms.gateway == "log") {
    LOG_WARN(
        "sms.gateway = log: SMS codes are written to this log and never sent. "
        "For development only; in production set sms.gateway to http or twilio, or to off "
        "to turn codes by SMS off.");
  } else if (sms_off) {
    LOG_INFO("sms.gateway = off: codes by SMS are turned off (no new SMS methods, no codes sent)");
  }

  // Read here rather than in open(): only the server needs the token, not the other commands.
  auto metrics_access = api::MetricsAccess::load(cfg.metrics);
  if (!metrics_access) {
    const core::Error& e = metrics_access.error();
    const std::string line = e.message + (e.detail.empty() ? "" : ": " + e.detail);
    std::fprintf(stderr, "twostep: %s\n", line.c_str());
    return 2;
  }
  if (!metrics_access->enabled()) {
    LOG_INFO("metrics off (metrics.allow is empty): GET /metrics answers 404");
  } else if (metrics_access->needs_token()) {
    LOG_INFO("metrics: addresses in metrics.allow with the bearer token of metrics.token_file");
  }

  std::string web_dir = cfg.server.web_dir.empty() ? std::string(TWOSTEP_WEB_DIR) : cfg.server.web_dir;
  http::Router router;
  auto handle = api::add_routes(
      router, api::ApiOptions{cfg, web_dir, std::move(*metrics_access)},
      api::Services{*audit_, *accounts_, *sessions_, *twofa_, *login_, *throttles_, *sms_, *orgs_,
                    *security_keys_, *app_passwords_, *approvals_, *events_},
      api::Pools{hash_pool, db_pool, sms_pool}, metrics_);

  http::ServerOptions opts;
  opts.threads = cfg.server.threads > 0 ? cfg.server.threads : cores;
  opts.body_limit = static_cast<size_t>(cfg.server.body_limit);
  opts.header_limit = static_cast<size_t>(cfg.server.header_limit);
  opts.read_timeout = std::chrono::seconds(cfg.server.read_timeout_s);
  opts.idle_timeout = std::chrono::seconds(cfg.server.idle_timeout_s);
  opts.max_connections = cfg.server.max_connections;
  opts.shutdown_grace = std::chrono::seconds(cfg.server.shutdown_grace_s);
  opts.trusted_proxies = cfg.server.trusted_proxies;
  opts.hsts = cfg.https();

  auto hp = split_host_port(cfg.server.listen);
  if (!hp) {
    LOG_ERROR(hp.error().message);
    return 2;
  }
  http::Server server(opts, router, metrics_);
  auto bound = server.listen(hp->first, hp->second);
  if (!bound) {
    std::fprintf(stderr, "twostep: %s\n", bound.error().message.c_str());
    return 1;
  }
  // Announced before "listening on": `twostep instances` and `key use` see it from then on.
  store::Instance self = describe_instance(cfg, *keyring_, *bound, clock_.unix_now());
  if (auto st = store_->put_instance(self); !st) {
    LOG_WARN("instance row not written (twostep instances, key use cannot see this instance): "
             << st.error().message);
  }
  net::co_spawn(server.io(),
                housekeeping(*sessions_, *twofa_, *orgs_, *security_keys_, *sms_, *approvals_,
                             *app_passwords_, *store_, self, clock_, db_pool),
                net::detached);
  std::printf("listening on http://%s\n", bound->c_str());
  std::fflush(stdout);
  LOG_INFO("twostep " << TWOSTEP_VERSION << " serving " << cfg.server.public_url
                      << " database=" << (cfg.database.url.rfind("sqlite:", 0) == 0 ? cfg.database.url : "postgresql")
                      << " threads=" << opts.threads << " hash_threads=" << hash_threads);
  if (pg_events_ != nullptr) {
    pg_events_->start(server.io());
  }
  server.run();
  if (pg_events_ != nullptr) {
    pg_events_->stop();  // before the io_context it runs on goes
  }
  // Jobs still running in the pools must finish before the server (and its io_context) goes.
  hash_pool.stop();
  db_pool.stop();
  sms_pool.stop();
  // A clean shutdown leaves the list at once (a killed instance turns stale instead).
  if (auto st = store_->delete_instance(self.id); !st) {
    LOG_WARN("instance row not deleted: " << st.error().message);
  }
  LOG_INFO("stopped");
  return 0;
}

}  // namespace twostep::app
