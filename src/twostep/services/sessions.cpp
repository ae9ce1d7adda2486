#include "twostep/services/sessions.hpp"

#include <algorithm>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::services {
using core::Code;
using core::fail;
using store::SessionState;

namespace {
constexpr int kTokenBytes = 32;  // 256 bits
constexpr int64_t kTouchEvery = 60;
constexpr size_t kCacheMax = 100000;

core::Error not_authenticated() {
  return core::Error{Code::kUnauthenticated, "not_authenticated", "Please sign in.", {}, 0};
}
}  // namespace

Sessions::Sessions(Deps deps, Audit& audit)
    : d_(deps),
      audit_(audit),
      cache_(deps.clock, std::chrono::milliseconds(deps.config.sessions.verify_cache_ms),
             kCacheMax) {}

std::string Sessions::hash_token(std::string_view token) { return crypto::sha256_hex(token); }

crypto::Sha256Digest Sessions::token_digest(std::string_view token) {
  return crypto::sha256_digest(token);
}

int64_t Sessions::expiry_for(bool remember, SessionState state, int64_t now) const {
  const auto& c = d_.config.sessions;
  if (state == SessionState::kPendingSecondFactor) return now + c.pending_timeout_s;
  if (remember) return now + int64_t{c.remember_days} * 86400;
  return now + c.idle_timeout_s;
}

int64_t Sessions::cookie_max_age(const store::Session& s) const {
  if (!s.remember || s.state == SessionState::kPendingSecondFactor) return 0;
  return int64_t{d_.config.sessions.remember_days} * 86400;
}

Result<IssuedSession> Sessions::create(const store::User& user, SessionState state, bool remember,
                                       const Client& client) {
  const int64_t now = d_.clock.unix_now();
  store::Session s;
  s.user_id = user.id;
  s.state = state;
  s.remember = remember;
  s.created_at = now;
  s.last_seen_at = now;
  s.expires_at = expiry_for(remember, state, now);
  s.absolute_expires_at = now + int64_t{d_.config.sessions.absolute_timeout_days} * 86400;
  if (state == SessionState::kPendingSecondFactor) s.absolute_expires_at = s.expires_at;
  s.auth_at = state == SessionState::kFull ? now : 0;
  s.ip = client.ip;
  s.user_agent = client.user_agent.substr(0, 512);
  IssuedSession out;
  out.token = crypto::random_token(kTokenBytes);
  s.token_hash = hash_token(out.token);
  TS_ASSIGN_OR_RETURN(out.session, d_.store.create_session(s));
  return out;
}

Result<SessionView> Sessions::resolve(std::string_view token) {
  if (token.empty() || token.size() > 128) return tl::unexpected(not_authenticated());
  auto s = d_.store.session_by_token_hash(hash_token(token));
  if (!s) {
    if (s.error().code == Code::kNotFound) return tl::unexpected(not_authenticated());
    return tl::unexpected(s.error());
  }
  const int64_t now = d_.clock.unix_now();
  if (s->expires_at <= now || s->absolute_expires_at <= now) {
    (void)d_.store.delete_session(s->id);
    forget(s->id);
    return tl::unexpected(not_authenticated());
  }
  auto user = d_.store.user_by_id(s->user_id);
  if (!user) {
    if (user.error().code == Code::kNotFound) return tl::unexpected(not_authenticated());
    return tl::unexpected(user.error());
  }
  if (user->disabled) return tl::unexpected(not_authenticated());
  if (s->state != SessionState::kPendingSecondFactor && now - s->last_seen_at >= kTouchEvery) {
    int64_t exp = std::min(expiry_for(s->remember, s->state, now), s->absolute_expires_at);
    if (d_.store.touch_session(s->id, now, exp)) {
      s->last_seen_at = now;
      s->expires_at = exp;
    }
  }
  return SessionView{*s, *user};
}

Result<IssuedSession> Sessions::upgrade(const store::Session& s, SessionState state) {
  const int64_t now = d_.clock.unix_now();
  IssuedSession out;
  out.token = crypto::random_token(kTokenBytes);
  std::string hash = hash_token(out.token);
  int64_t exp = expiry_for(s.remember, state, now);
  TS_RETURN_IF_ERROR(d_.store.upgrade_session(s.id, hash, state, now, exp));
  forget(s.id);
  out.session = s;
  out.session.token_hash = hash;
  out.session.state = state;
  out.session.auth_at = now;
  out.session.expires_at = exp;
  out.session.last_seen_at = now;
  if (s.state == SessionState::kPendingSecondFactor) {
    // The pending step had a 5-minute cap; a full session gets the normal one.
    out.session.absolute_expires_at = now + int64_t{d_.config.sessions.absolute_timeout_days} * 86400;
  }
  return out;
}

Result<std::vector<store::Session>> Sessions::list(int64_t user_id) {
  TS_ASSIGN_OR_RETURN(auto all, d_.store.sessions_of_user(user_id));
  const int64_t now = d_.clock.unix_now();
  std::vector<store::Session> out;
  for (auto& s : all) {
    if (s.state == SessionState::kPendingSecondFactor) continue;
    if (s.expires_at <= now || s.absolute_expires_at <= now) continue;
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.last_seen_at > b.last_seen_at; });
  return out;
}

Status Sessions::revoke(int64_t user_id, int64_t session_id, const Client& client) {
  auto st = d_.store.delete_user_session(user_id, session_id);
  if (!st) {
    if (st.error().code == Code::kNotFound) {
      return fail(Code::kNotFound, "not_found", "No such session.");
    }
    return st;
  }
  forget(session_id);
  audit_.record(user_id, "session_revoked", client, {{"session_id", std::to_string(session_id)}});
  return {};
}

Status Sessions::logout(const store::Session& s, const Client& client) {
  TS_RETURN_IF_ERROR(d_.store.delete_session(s.id));
  forget(s.id);
  if (s.state == SessionState::kFull) audit_.record(s.user_id, "logout", client);
  return {};
}

Result<int> Sessions::revoke_all(int64_t user_id, int64_t keep_id) {
  TS_ASSIGN_OR_RETURN(int n, d_.store.delete_sessions_of_user(user_id, keep_id));
  user_sessions_changed(user_id, keep_id);
  return n;
}

// --- the /verify cache across instances ------------------------------------------------
// Announcements: {"type":"session_ended","session_id":N} and
// {"type":"user_sessions_changed","user_id":U,"keep":K}; anything else (the bus's resync)
// empties the cache. Ids are not secrets, and nothing else is sent.

void Sessions::attach_events(EventBus& bus) {
  bus_ = &bus;
  subscription_ =
      bus.subscribe(kSessionsChannel, [this](const std::string& payload) { on_event(payload); });
}

void Sessions::forget(int64_t session_id) {
  drop_session(session_id);
  if (bus_ != nullptr) {
    bus_->publish(kSessionsChannel, announcement("session_ended", {{"session_id", session_id}}));
  }
}

void Sessions::user_sessions_changed(int64_t user_id, int64_t keep_id) {
  drop_user(user_id, keep_id);
  if (bus_ != nullptr) {
    bus_->publish(kSessionsChannel,
                  announcement("user_sessions_changed", {{"user_id", user_id}, {"keep", keep_id}}));
  }
}

void Sessions::on_event(const std::string& payload) {
  // Our own announcements come back on an in-process bus: dropping twice is harmless.
  const Announcement ev(payload);
  if (ev.type() == "session_ended" && ev.id("session_id") > 0) {
    drop_session(ev.id("session_id"));
  } else if (ev.type() == "user_sessions_changed" && ev.id("user_id") > 0 && ev.id("keep") >= 0) {
    drop_user(ev.id("user_id"), ev.id("keep"));
  } else {
    drop_all();  // a resync, or something this version does not know: safe, only slower
  }
}

void Sessions::drop_session(int64_t session_id) {
  cache_.erase_if([&](const VerifiedUser& v) { return v.session_id == session_id; });
}

void Sessions::drop_user(int64_t user_id, int64_t keep_id) {
  cache_.erase_if(
      [&](const VerifiedUser& v) { return v.user_id == user_id && v.session_id != keep_id; });
}

void Sessions::drop_all() { cache_.clear(); }

std::optional<VerifiedUser> Sessions::verify_cached(const crypto::Sha256Digest& digest) {
  return cache_.get(digest);
}

Result<VerifiedUser> Sessions::verify_slow(const crypto::Sha256Digest& digest) {
  // A revocation announced while this reads the store must not be undone by caching what it
  // read: the entry is kept only if no drop happened meanwhile (the cache's generation).
  const uint64_t generation = cache_.generation();
  auto s = d_.store.session_by_token_hash(crypto::hex_encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size())));
  if (!s) {
    if (s.error().code == Code::kNotFound) return tl::unexpected(not_authenticated());
    return tl::unexpected(s.error());
  }
  const int64_t now = d_.clock.unix_now();
  if (s->expires_at <= now || s->absolute_expires_at <= now) {
    return tl::unexpected(not_authenticated());
  }
  auto user = d_.store.user_by_id(s->user_id);
  if (!user || user->disabled) return tl::unexpected(not_authenticated());
  if (now - s->last_seen_at >= kTouchEvery && s->state == SessionState::kFull) {
    int64_t exp = std::min(expiry_for(s->remember, s->state, now), s->absolute_expires_at);
    (void)d_.store.touch_session(s->id, now, exp);
    s->expires_at = exp;
  }
  VerifiedUser v{s->id, user->id, user->username, s->state};
  cache_.put(digest, v, generation, core::TimePoint(std::chrono::seconds(s->expires_at)));
  return v;
}

void Sessions::purge_expired() {
  (void)d_.store.delete_expired_sessions(d_.clock.unix_now());
  cache_.purge_expired();
}

std::string describe_device(std::string_view ua) {
  auto has = [&](std::string_view s) { return ua.find(s) != std::string_view::npos; };
  std::string browser = "Unknown browser";
  if (has("Edg/")) browser = "Edge";
  else if (has("OPR/")) browser = "Opera";
  else if (has("Firefox/")) browser = "Firefox";
  else if (has("Chrome/") || has("Chromium/")) browser = has("HeadlessChrome") ? "Headless Chrome" : "Chrome";
  else if (has("Safari/")) browser = "Safari";
  else if (has("curl/")) browser = "curl";
  else if (has("node") || has("undici")) browser = "Node.js";
  else if (has("twostep-auth")) browser = "twostep-auth";
  std::string os;
  if (has("Android")) os = "Android";
  else if (has("iPhone") || has("iPad")) os = "iOS";
  else if (has("Windows")) os = "Windows";
  else if (has("Mac OS X") || has("Macintosh")) os = "macOS";
  else if (has("Linux")) os = "Linux";
  return os.empty() ? browser : browser + " on " + os;
}

}  // namespace twostep::services
