#include "twostep/services/audit.hpp"

#include <cstdio>

#include "twostep/core/log.hpp"

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

void Audit::record(int64_t user_id, const std::string& event, const Client& client,
                   const std::vector<std::pair<std::string, std::string>>& detail) {
  store::AuditEvent e;
  e.user_id = user_id;
  e.at = d_.clock.unix_now();
  e.event = event;
  e.ip = client.ip;
  e.user_agent = client.user_agent.substr(0, 512);
  e.detail = json_object(detail);
  d_.metrics.inc("twostep_audit_events_total", "event=\"" + core::metric_label(event) + "\"");
  if (auto st = d_.store.append_audit(e); !st) {
    LOG_ERROR("audit write failed event=" << event << " user=" << user_id
                                          << " detail=" << st.error().detail);
  }
}

Result<std::vector<store::AuditEvent>> Audit::of_user(int64_t user_id, int limit) {
  return d_.store.audit_of_user(user_id, limit);
}

}  // namespace twostep::services
