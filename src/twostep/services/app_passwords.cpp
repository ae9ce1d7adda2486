#include "twostep/services/app_passwords.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "twostep/core/log.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/password.hpp"
#include "twostep/crypto/random.hpp"
#include "twostep/services/accounts.hpp"
#include "twostep/services/orgs.hpp"

namespace twostep::services {
using core::Code;
using core::fail;

namespace {

// 32 characters, easy to read and type: lower-case letters and digits without l, o, 0, 1.
constexpr std::string_view kAlphabet = "abcdefghijkmnpqrstuvwxyz23456789";
constexpr size_t kLookupChars = 4;   // 20 bits, unique per user
constexpr size_t kSecretChars = 20;  // 100 bits
constexpr size_t kGroup = 4;
constexpr const char* kPepperPurpose = "app-passwords";
constexpr int64_t kTouchEvery = 60;
constexpr size_t kCacheMax = 100000;
// How long /verify trusts a main-password success (see AppPasswords::remember).
constexpr std::chrono::seconds kMainPasswordCacheMax{1};
constexpr int kCreateAttempts = 4;  // a lookup collision (20 bits per user) is retried

core::Error invalid_credentials() {
  return core::Error{Code::kUnauthenticated,
                     "invalid_credentials",
                     "The username or password is not correct.",
                     {},
                     0};
}

core::Error app_password_required(const core::Config& cfg) {
  return core::Error{
      Code::kUnauthenticated,
      "app_password_required",
      "This account needs an application password for mail, calendar and file apps. Sign in at " +
          cfg.server.public_url +
          ", open Security → App passwords, create one for this app and enter it here instead "
          "of your password.",
      {},
      0};
}

}  // namespace

std::optional<AppPasswordParts> parse_app_password(std::string_view typed) {
  if (typed.size() > 64) return std::nullopt;
  std::string chars;
  for (char c : typed) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (kAlphabet.find(c) == std::string_view::npos) return std::nullopt;
    chars.push_back(c);
  }
  if (chars.size() != kLookupChars + kSecretChars) return std::nullopt;
  return AppPasswordParts{chars.substr(0, kLookupChars), chars.substr(kLookupChars)};
}

Result<std::string> scope_for_service(std::string_view service, std::string_view field) {
  static const std::pair<std::string_view, std::string_view> kServices[] = {
      {"mail", "mail"},       {"imap", "mail"},   {"pop3", "mail"}, {"smtp", "mail"},
      {"submission", "mail"}, {"sieve", "mail"},  {"dav", "dav"},   {"webdav", "dav"},
      {"caldav", "dav"},      {"carddav", "dav"}, {"all", "all"},
  };
  std::string lower(service);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [name, scope] : kServices) {
    if (lower == name) return std::string(scope);
  }
  return fail(Code::kInvalidArgument, "invalid_request",
              std::string(field) +
                  ": expected one of imap, pop3, smtp, submission, sieve, mail, dav, webdav, "
                  "caldav, carddav, all.");
}

Result<std::string> normalize_scopes(const std::vector<std::string>& scopes) {
  bool mail = false;
  bool dav = false;
  for (const auto& s : scopes) {
    if (s == "all") return std::string("all");
    if (s == "mail") {
      mail = true;
    } else if (s == "dav") {
      dav = true;
    } else {
      return fail(Code::kInvalidArgument, "invalid_request",
                  "scopes: each must be one of mail, dav, all.");
    }
  }
  if (mail && dav) return std::string("mail,dav");
  if (mail) return std::string("mail");
  if (dav) return std::string("dav");
  return fail(Code::kInvalidArgument, "invalid_request", "scopes: choose at least one.");
}

std::vector<std::string> split_scopes(std::string_view scopes) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= scopes.size()) {
    size_t end = std::min(scopes.find(',', pos), scopes.size());
    if (end > pos) out.emplace_back(scopes.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool scope_allows(std::string_view scopes, std::string_view needed) {
  for (const auto& s : split_scopes(scopes)) {
    if (s == "all" || s == needed) return true;
  }
  return false;
}

AppPasswords::AppPasswords(Deps deps, Audit& audit, Throttles& throttles, TwoFactor& twofa,
                           Orgs* orgs)
    : d_(deps),
      audit_(audit),
      throttles_(throttles),
      twofa_(twofa),
      orgs_(orgs),
      pepper_(deps.keyring, kPepperPurpose),
      cache_(deps.clock, std::chrono::milliseconds(deps.config.sessions.verify_cache_ms),
             kCacheMax) {}

std::string AppPasswords::hash_for(uint32_t key_id, int64_t user_id,
                                   const AppPasswordParts& parts) const {
  auto hash =
      pepper_.hash_hex(key_id, std::to_string(user_id) + ":" + parts.lookup + ":" + parts.secret);
  if (!hash) {
    LOG_ERROR("application password hashed with unknown master key id=" << key_id);
    return {};
  }
  return *hash;
}

const std::string& AppPasswords::dummy_hash() {
  std::call_once(dummy_once_, [this] {
    auto h = crypto::hash_password(
        crypto::random_token(24),
        {d_.config.security.argon2_memory_kib, d_.config.security.argon2_iterations});
    if (!h) throw std::runtime_error("cannot compute the reference password hash");
    dummy_hash_ = *h;
  });
  return dummy_hash_;
}

// --- managing ------------------------------------------------------------------------------

Result<CreatedAppPassword> AppPasswords::create(const store::User& user, std::string_view name,
                                                const std::vector<std::string>& scopes,
                                                const Client& client) {
  // The rules of method labels, under this field's name.
  auto clean = clean_label(name, "");
  if (!clean) {
    core::Error e = clean.error();
    if (e.message.rfind("label:", 0) == 0) e.message.replace(0, 5, "name");
    return tl::unexpected(std::move(e));
  }
  if (clean->empty()) return fail(Code::kInvalidArgument, "invalid_request", "name: required.");
  TS_ASSIGN_OR_RETURN(std::string scope_text, normalize_scopes(scopes));
  for (int attempt = 0;; ++attempt) {
    std::string chars;
    for (size_t i = 0; i < kLookupChars + kSecretChars; ++i) {
      chars.push_back(kAlphabet[crypto::random_uniform(static_cast<uint32_t>(kAlphabet.size()))]);
    }
    AppPasswordParts parts{chars.substr(0, kLookupChars), chars.substr(kLookupChars)};
    store::AppPassword p;
    p.user_id = user.id;
    p.name = *clean;
    p.scopes = scope_text;
    p.lookup = parts.lookup;
    p.key_id = pepper_.current_id();
    p.hash = hash_for(p.key_id, user.id, parts);
    p.created_at = d_.clock.unix_now();
    auto stored = d_.store.create_app_password(p, kMaxAppPasswords);
    if (!stored) {
      if (stored.error().code == Code::kAlreadyExists && attempt + 1 < kCreateAttempts) continue;
      return tl::unexpected(stored.error());
    }
    CreatedAppPassword out;
    out.record = std::move(*stored);
    for (size_t i = 0; i < chars.size(); ++i) {
      if (i > 0 && i % kGroup == 0) out.password.push_back('-');
      out.password.push_back(chars[i]);
    }
    core::secure_zero(chars.data(), chars.size());
    core::secure_zero(parts.secret.data(), parts.secret.size());
    audit_.record(user.id, "app_password_created", client,
                  {{"name", out.record.name}, {"scopes", out.record.scopes}});
    return out;
  }
}

Result<std::vector<store::AppPassword>> AppPasswords::list(int64_t user_id) {
  return d_.store.app_passwords_of_user(user_id);
}

Status AppPasswords::revoke(const store::User& user, int64_t id, const Client& client) {
  auto gone = d_.store.delete_app_password(user.id, id);
  if (!gone) {
    if (gone.error().code == Code::kNotFound) {
      return fail(Code::kNotFound, "not_found", "No such application password.");
    }
    return tl::unexpected(gone.error());
  }
  forget(id);
  audit_.record(user.id, "app_password_revoked", client, {{"name", gone->name}});
  return {};
}

Result<int> AppPasswords::revoke_all(const store::User& user, const Client& client) {
  TS_ASSIGN_OR_RETURN(auto all, list(user.id));
  int revoked = 0;
  for (const auto& p : all) {
    auto st = revoke(user, p.id, client);
    if (!st && st.error().code != Code::kNotFound) return tl::unexpected(st.error());
    if (st) ++revoked;
  }
  return revoked;
}

// --- protocol checks -----------------------------------------------------------------------

Result<AppPasswords::Throttled> AppPasswords::check_throttles(std::string_view canonical_name,
                                                              const Client& client) {
  Throttled keys{"app:user:" + std::string(canonical_name), "app:ip:" + client.ip};
  TS_RETURN_IF_ERROR(throttles_.check(keys.ip_key));
  if (auto st = throttles_.check(keys.account_key); !st) {
    d_.metrics.inc("twostep_app_auth_total", "outcome=\"locked\"");
    return tl::unexpected(st.error());
  }
  return keys;
}

core::Error AppPasswords::record_failure(int64_t user_id, const Throttled& keys,
                                         std::string_view name, std::string_view scope,
                                         const Client& client) {
  d_.metrics.inc("twostep_app_auth_total", "outcome=\"failed\"");
  audit_.record(user_id, "app_auth_failed", client,
                {{"username", std::string(name)}, {"scope", std::string(scope)}});
  const auto& r = d_.config.rate_limit;
  auto locked = throttles_.hit(
      keys.account_key, {r.login_account_max, r.login_account_window_s, r.login_account_lock_s});
  if (!locked) return locked.error();
  if (*locked) {
    audit_.record(
        user_id, "app_auth_locked", client,
        {{"username", std::string(name)}, {"seconds", std::to_string(r.login_account_lock_s)}});
  }
  auto ip_locked =
      throttles_.hit(keys.ip_key, {r.login_ip_max, r.login_ip_window_s, r.login_ip_lock_s});
  if (!ip_locked) return ip_locked.error();
  if (*ip_locked) {
    LOG_WARN("client address locked after repeated protocol sign-in failures ip=" << client.ip);
    audit_.record(0, "address_locked", client, {{"seconds", std::to_string(r.login_ip_lock_s)}});
  }
  return invalid_credentials();
}

void AppPasswords::note_use(const store::User& user, const store::AppPassword& p,
                            std::string_view scope, const Client& client) {
  const int64_t now = d_.clock.unix_now();
  const bool new_address = p.last_used_ip != client.ip;
  // One write a minute at most per password (a mail client logs in every few minutes).
  if (new_address || now - p.last_used_at >= kTouchEvery) {
    (void)d_.store.touch_app_password(p.id, now, client.ip);
  }
  if (new_address) {
    audit_.record(user.id, "app_password_used", client,
                  {{"name", p.name}, {"scope", std::string(scope)}});
  }
}

Result<std::optional<ProtocolUser>> AppPasswords::check_app_password(std::string_view username,
                                                                     std::string_view password,
                                                                     std::string_view scope,
                                                                     const Client& client) {
  auto parts = parse_app_password(password);
  auto name = canonical_username(username);
  if (!parts || !name) return std::optional<ProtocolUser>();
  TS_RETURN_IF_ERROR(check_throttles(*name, client));
  auto found = d_.store.app_password_for_login(*name, parts->lookup);
  if (!found) {
    if (found.error().code != Code::kNotFound) return tl::unexpected(found.error());
    // Same work as a known user: one keyed hash.
    (void)hash_for(pepper_.current_id(), 0, *parts);
    return std::optional<ProtocolUser>();
  }
  const auto& [user, p] = *found;
  const std::string expected = hash_for(p.key_id, user.id, *parts);
  core::secure_zero(parts->secret.data(), parts->secret.size());
  if (expected.empty()) return tl::unexpected(crypto::Keyring::missing_key(p.key_id));
  if (expected.empty() || !crypto::ct_equal(expected, p.hash)) {
    return std::optional<ProtocolUser>();
  }
  if (user.disabled) {
    d_.metrics.inc("twostep_app_auth_total", "outcome=\"disabled\"");
    audit_.record(user.id, "app_auth_failed", client, {{"reason", "disabled"}});
    return fail(Code::kPermissionDenied, "account_disabled",
                "This account is disabled. Contact your administrator.");
  }
  if (!scope_allows(p.scopes, scope)) {
    d_.metrics.inc("twostep_app_auth_total", "outcome=\"wrong_scope\"");
    audit_.record(user.id, "app_auth_failed", client,
                  {{"reason", "scope"}, {"name", p.name}, {"scope", std::string(scope)}});
    return fail(Code::kPermissionDenied, "app_password_scope",
                "This application password is for " + p.scopes + ", not for " + std::string(scope) +
                    ". Create one that allows " + std::string(scope) + ".");
  }
  note_use(user, p, scope, client);
  d_.metrics.inc("twostep_app_auth_total", "outcome=\"app_password\"");
  return std::optional<ProtocolUser>(ProtocolUser{user.id, user.username, p.id});
}

Result<ProtocolUser> AppPasswords::check_main_password(std::string_view username,
                                                       std::string_view password,
                                                       std::string_view scope,
                                                       const Client& client) {
  // An impossible username is treated like an unknown one (same cost, same answer).
  auto canonical = canonical_username(username);
  const std::string name = canonical ? *canonical : std::string(username.substr(0, 64));
  TS_ASSIGN_OR_RETURN(Throttled keys, check_throttles(name, client));
  TS_ASSIGN_OR_RETURN(PasswordCheck check,
                      verify_user_password(d_.store, canonical, password, dummy_hash()));
  std::optional<store::User>& user = check.user;
  if (!check.ok) {
    return tl::unexpected(record_failure(user ? user->id : 0, keys, name, scope, client));
  }
  if (user->disabled) {
    d_.metrics.inc("twostep_app_auth_total", "outcome=\"disabled\"");
    audit_.record(user->id, "app_auth_failed", client, {{"reason", "disabled"}});
    return fail(Code::kPermissionDenied, "account_disabled",
                "This account is disabled. Contact your administrator.");
  }
  throttles_.clear(keys.account_key);
  // Why the main password may not open protocols, if it may not.
  const char* refusal = nullptr;
  TS_ASSIGN_OR_RETURN(bool twofa, twofa_.enabled(user->id));
  if (twofa) {
    refusal = "two_step_verification_on";
  } else if (!d_.config.accounts.protocol_main_password) {
    refusal = "configuration";
  } else if (orgs_ != nullptr) {
    // The organisation's grace period counts here as at sign-in; after it, the web sign-in
    // opens only the enrolment, and protocols must not be the way around it.
    TS_ASSIGN_OR_RETURN(auto required, orgs_->requirement(user->id));
    if (required && required->deadline <= d_.clock.unix_now()) {
      refusal = "organisation_requires_two_step_verification";
    }
  }
  if (refusal != nullptr) {
    d_.metrics.inc("twostep_app_auth_total", "outcome=\"app_password_required\"");
    audit_.record(user->id, "app_auth_refused", client,
                  {{"reason", refusal}, {"scope", std::string(scope)}});
    return tl::unexpected(app_password_required(d_.config));
  }
  d_.metrics.inc("twostep_app_auth_total", "outcome=\"password\"");
  return ProtocolUser{user->id, user->username, 0};
}

// --- the /verify cache ---------------------------------------------------------------------
// Announcements: {"type":"app_password_revoked","id":N} and
// {"type":"user_credentials_changed","user_id":U}; anything else (the bus's resync) empties the
// cache. Ids only: nothing secret travels.

crypto::Sha256Digest AppPasswords::cache_key(std::string_view scope,
                                             std::string_view authorization) {
  std::string text;
  text.reserve(scope.size() + 1 + authorization.size());
  text.append(scope).append(1, '\n').append(authorization);
  crypto::Sha256Digest key = crypto::sha256_digest(text);
  core::secure_zero(text.data(), text.size());  // the header carries a password
  return key;
}

std::optional<ProtocolUser> AppPasswords::cached(const crypto::Sha256Digest& key) {
  return cache_.get(key);
}

void AppPasswords::remember(const crypto::Sha256Digest& key, const ProtocolUser& user,
                            uint64_t generation) {
  const core::TimePoint until = user.app_password_id == 0
                                    ? d_.clock.now() + kMainPasswordCacheMax
                                    : core::TimePoint::max();
  cache_.put(key, user, generation, until);
}

void AppPasswords::purge_cache() { cache_.purge_expired(); }

void AppPasswords::attach_events(EventBus& bus) {
  bus_ = &bus;
  subscription_ =
      bus.subscribe(kChannel, [this](const std::string& payload) { on_event(payload); });
}

void AppPasswords::drop_password(int64_t app_password_id) {
  cache_.erase_if([&](const ProtocolUser& u) { return u.app_password_id == app_password_id; });
}

void AppPasswords::drop_user(int64_t user_id) {
  cache_.erase_if([&](const ProtocolUser& u) { return u.user_id == user_id; });
}

void AppPasswords::forget(int64_t app_password_id) {
  drop_password(app_password_id);
  if (bus_ != nullptr) {
    bus_->publish(kChannel, announcement("app_password_revoked", {{"id", app_password_id}}));
  }
}

void AppPasswords::user_changed(int64_t user_id) {
  drop_user(user_id);
  if (bus_ != nullptr) {
    bus_->publish(kChannel, announcement("user_credentials_changed", {{"user_id", user_id}}));
  }
}

void AppPasswords::on_event(const std::string& payload) {
  // Our own announcements come back on an in-process bus: dropping twice is harmless.
  const Announcement ev(payload);
  if (ev.type() == "app_password_revoked" && ev.id("id") > 0) {
    drop_password(ev.id("id"));
  } else if (ev.type() == "user_credentials_changed" && ev.id("user_id") > 0) {
    drop_user(ev.id("user_id"));
  } else {
    cache_.clear();  // a resync, or something this version does not know: safe, only slower
  }
}

}  // namespace twostep::services
