#include "twostep/core/metrics.hpp"

#include <cstdio>
#include <sstream>

namespace twostep::core {
namespace {
const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                      0.05,   0.1,   0.25,   0.5,   1,    2.5};
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace

std::string metric_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Metrics::Metrics() {
  describe("twostep_http_requests_total", "counter", "HTTP requests by route, method and status.");
  describe("twostep_http_request_duration_seconds", "histogram",
           "HTTP request latency by route.");
}

void Metrics::describe(const std::string& name, const std::string& type,
                       const std::string& help) {
  std::lock_guard lock(mu_);
  help_[name] = {type, help};
}

void Metrics::observe_request(const std::string& route, const std::string& method, int status,
                              double seconds) {
  std::string labels = "route=\"" + metric_label(route) + "\",method=\"" + metric_label(method) +
                       "\",status=\"" + std::to_string(status) + "\"";
  std::string hlabels = "route=\"" + metric_label(route) + "\"";
  std::lock_guard lock(mu_);
  counters_["twostep_http_requests_total"][labels] += 1;
  auto& h = latency_[hlabels];
  if (h.buckets.empty()) h.buckets.assign(kBuckets.size(), 0);
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) h.buckets[i]++;
  }
  h.count++;
  h.sum += seconds;
}

void Metrics::inc(const std::string& name, const std::string& labels, double by) {
  std::lock_guard lock(mu_);
  counters_[name][labels] += by;
}

void Metrics::gauge(const std::string& name, const std::string& help,
                    std::function<double()> read) {
  std::lock_guard lock(mu_);
  gauges_[name] = {help, std::move(read)};
}

std::string Metrics::render() const {
  std::ostringstream os;
  std::lock_guard lock(mu_);
  auto header = [&](const std::string& name, const char* fallback_type) {
    auto it = help_.find(name);
    if (it != help_.end()) {
      os << "# HELP " << name << " " << it->second.second << "\n";
      os << "# TYPE " << name << " " << it->second.first << "\n";
    } else {
      os << "# TYPE " << name << " " << fallback_type << "\n";
    }
  };
  for (const auto& [name, series] : counters_) {
    header(name, "counter");
    for (const auto& [labels, v] : series) {
      os << name << (labels.empty() ? "" : "{" + labels + "}") << " " << num(v) << "\n";
    }
  }
  if (!latency_.empty()) {
    const std::string name = "twostep_http_request_duration_seconds";
    header(name, "histogram");
    for (const auto& [labels, h] : latency_) {
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        os << name << "_bucket{" << labels << ",le=\"" << num(kBuckets[i]) << "\"} "
           << h.buckets[i] << "\n";
      }
      os << name << "_bucket{" << labels << ",le=\"+Inf\"} " << h.count << "\n";
      os << name << "_sum{" << labels << "} " << num(h.sum) << "\n";
      os << name << "_count{" << labels << "} " << h.count << "\n";
    }
  }
  for (const auto& [name, g] : gauges_) {
    os << "# HELP " << name << " " << g.first << "\n# TYPE " << name << " gauge\n";
    os << name << " " << num(g.second()) << "\n";
  }
  return os.str();
}

}  // namespace twostep::core
