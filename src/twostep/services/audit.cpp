#include "twostep/services/audit.hpp"

#include <cstdio>

#include "twostep/core/log.hpp"
#include "twostep/services/accounts.hpp"

namespace twostep::services {

std::string json_object(const std::vector<std::pair<std::string, std::string>>& kv) {
  auto esc = [](const std::string& s) {
    std::string o;
    for (unsigned char c : s) {
      switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\r': o += "\\r"; break;
        case '\t': o += "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            o += buf;
          } else {
            o.push_back(static_cast<char>(c));
          }
      }
    }
    return o;
  };
  std::string out = "{";
  for (size_t i = 0; i < kv.size(); ++i) {
    if (i) out += ",";
    out += "\"" + esc(kv[i].first) + "\":\"" + esc(kv[i].second) + "\"";
  }
  return out + "}";
}

namespace {
// What a user's and an organisation's log entries have in common.
template <class Event>
Event make_event(const core::Clock& clock, const std::string& event, const Client& client,
                 const std::vector<std::pair<std::string, std::string>>& detail) {
  Event e;
  e.at = clock.unix_now();
  e.event = event;
  e.ip = client.ip;
  e.user_agent = client.user_agent.substr(0, 512);
  e.detail = json_object(detail);
  return e;
}
}  // namespace

void Audit::record(int64_t user_id, const std::string& event, const Client& client,
                   const std::vector<std::pair<std::string, std::string>>& detail) {
  auto e = make_event<store::AuditEvent>(d_.clock, event, client, detail);
  e.user_id = user_id;
  d_.metrics.inc("twostep_audit_events_total", "event=\"" + core::metric_label(event) + "\"");
  if (auto st = d_.store.append_audit(e); !st) {
    LOG_ERROR("audit write failed event=" << event << " user=" << user_id
                                          << " detail=" << st.error().detail);
  }
}

void Audit::record_org(int64_t org_id, int64_t actor_id, int64_t subject_id,
                       const std::string& event, const Client& client,
                       const std::vector<std::pair<std::string, std::string>>& detail) {
  auto e = make_event<store::OrgAuditEvent>(d_.clock, event, client, detail);
  e.org_id = org_id;
  e.actor_id = actor_id;
  e.subject_id = subject_id;
  d_.metrics.inc("twostep_audit_events_total", "event=\"" + core::metric_label(event) + "\"");
  if (auto st = d_.store.append_org_audit(e); !st) {
    LOG_ERROR("org audit write failed event=" << event << " org=" << org_id
                                              << " detail=" << st.error().detail);
  }
}

Result<std::vector<store::AuditEvent>> Audit::of_user(int64_t user_id, int limit) {
  return d_.store.audit_of_user(user_id, limit);
}

Result<std::vector<store::AuditEvent>> Audit::site(const store::AuditFilter& filter) {
  return d_.store.site_audit(filter);
}

Result<std::vector<store::AuditEvent>> Audit::site_for_admin(int64_t admin_id,
                                                             const std::string& user,
                                                             store::AuditFilter filter,
                                                             const Client& client) {
  if (!user.empty()) {
    TS_ASSIGN_OR_RETURN(
        store::User u,
        user_named(d_.store, user,
                   core::Error{core::Code::kNotFound, "not_found",
                               "user: there is no such account.", {}, 0}));
    filter.user_id = u.id;
  }
  TS_ASSIGN_OR_RETURN(auto events, d_.store.site_audit(filter));
  record(admin_id, "site_audit_viewed", client,
         {{"user", user},
          {"event", filter.event},
          {"since", std::to_string(filter.since)},
          {"limit", std::to_string(filter.limit)}});
  return events;
}

}  // namespace twostep::services
