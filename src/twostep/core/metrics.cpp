#include "twostep/core/metrics.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <sstream>

namespace twostep::core {
namespace {

constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,   0.25,   0.5,   1,    2.5};
// Method label values counted without a lock (the HTTP server maps every method to one).
constexpr std::array<std::string_view, 9> kMethods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "other", "unknown"};
constexpr const char* kRequestsTotal = "twostep_http_requests_total";

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

int method_index(std::string_view m) {
  for (size_t i = 0; i < kMethods.size(); ++i) {
    if (kMethods[i] == m) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::string request_labels(const std::string& route_label, std::string_view method, int status) {
  return route_label + ",method=\"" + metric_label(std::string(method)) + "\",status=\"" +
         std::to_string(status) + "\"";
}

}  // namespace

// Counters per (method, status) in a small open-addressing table whose slots are claimed once with
// a compare-and-swap and never freed, and a histogram of per-bucket (not yet cumulative) counts. A
// full table falls back to the locked counters, so nothing is lost.
class Metrics::RouteSeries {
 public:
  explicit RouteSeries(std::string label) : label_(std::move(label)) {}

  const std::string& label() const { return label_; }  // route="..."

  // false when the table has no room for a new (method, status) pair.
  bool count(int method, int status) {
    const uint32_t key = (static_cast<uint32_t>(method + 1) << 16) | static_cast<uint32_t>(status);
    const size_t start = (static_cast<size_t>(status) * 31 + static_cast<size_t>(method)) % kSlots;
    for (size_t i = 0; i < kSlots; ++i) {
      Slot& s = slots_[(start + i) % kSlots];
      uint32_t k = s.key.load(std::memory_order_acquire);
      if (k == 0) {
        uint32_t expected = 0;
        if (s.key.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
          k = key;
        } else {
          k = expected;  // another thread claimed it first, maybe for the same pair
        }
      }
      if (k == key) {
        s.count.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
    }
    return false;
  }

  void observe(double seconds) {
    size_t i = 0;
    while (i < kBuckets.size() && !(seconds <= kBuckets[i])) {
      ++i;
    }
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(seconds, std::memory_order_relaxed);
  }

  // Adds this route's non-zero request counters to `out` (labels -> value).
  void add_counters(std::map<std::string, double>& out) const {
    for (const Slot& s : slots_) {
      const uint32_t k = s.key.load(std::memory_order_acquire);
      const uint64_t n = s.count.load(std::memory_order_relaxed);
      if (k == 0 || n == 0) {
        continue;
      }
      out[request_labels(label_, kMethods[(k >> 16) - 1], static_cast<int>(k & 0xffff))] +=
          static_cast<double>(n);
    }
  }

  // Renders the histogram; nothing before the first observation. The count and the +Inf bucket are
  // the sum of the buckets, so a scrape racing an observation stays consistent.
  void render_histogram(std::ostream& os, const std::string& name) const {
    std::array<uint64_t, kBuckets.size() + 1> b;
    for (size_t i = 0; i < b.size(); ++i) {
      b[i] = buckets_[i].load(std::memory_order_relaxed);
    }
    uint64_t total = 0;
    for (uint64_t v : b) {
      total += v;
    }
    if (total == 0) {
      return;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += b[i];
      os << name << "_bucket{" << label_ << ",le=\"" << num(kBuckets[i]) << "\"} " << cumulative
         << "\n";
    }
    os << name << "_bucket{" << label_ << ",le=\"+Inf\"} " << total << "\n";
    os << name << "_sum{" << label_ << "} " << num(sum_.load(std::memory_order_relaxed)) << "\n";
    os << name << "_count{" << label_ << "} " << total << "\n";
  }

  bool observed() const {
    for (const auto& b : buckets_) {
      if (b.load(std::memory_order_relaxed) != 0) {
        return true;
      }
    }
    return false;
  }

 private:
  static constexpr size_t kSlots = 32;
  struct Slot {
    std::atomic<uint32_t> key{0};  // (method index + 1) << 16 | status; 0 = free
    std::atomic<uint64_t> count{0};
  };
  const std::string label_;
  std::array<Slot, kSlots> slots_;
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets_{};  // last: above 2.5 s
  std::atomic<double> sum_{0};
};

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
  describe(kRequestsTotal, "counter", "HTTP requests by route, method and status.");
  describe("twostep_http_request_duration_seconds", "histogram", "HTTP request latency by route.");
}

Metrics::~Metrics() = default;

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  help_[name] = {type, help};
}

Metrics::RouteSeries& Metrics::route(const std::string& route) {
  std::string label = "route=\"" + metric_label(route) + "\"";
  std::lock_guard lock(mu_);
  auto& slot = routes_[label];
  if (!slot) {
    slot = std::make_unique<RouteSeries>(std::move(label));
  }
  return *slot;
}

void Metrics::observe_request(RouteSeries& route, std::string_view method, int status,
                              double seconds) {
  const int m = method_index(method);
  if (m < 0 || status < 0 || status > 0xffff || !route.count(m, status)) {
    std::string labels = request_labels(route.label(), method, status);
    std::lock_guard lock(mu_);
    counters_[kRequestsTotal][labels] += 1;
  }
  route.observe(seconds);
}

void Metrics::observe_request(const std::string& route_name, const std::string& method, int status,
                              double seconds) {
  observe_request(route(route_name), method, status, seconds);
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
  // The lock-free route counters join the locked ones under their metric name.
  std::map<std::string, std::map<std::string, double>> counters = counters_;
  std::map<std::string, double> requests;
  for (const auto& [label, series] : routes_) {
    series->add_counters(requests);
  }
  if (!requests.empty()) {
    auto& all = counters[kRequestsTotal];
    for (const auto& [labels, v] : requests) {
      all[labels] += v;
    }
  }
  for (const auto& [name, series] : counters) {
    header(name, "counter");
    for (const auto& [labels, v] : series) {
      os << name << (labels.empty() ? "" : "{" + labels + "}") << " " << num(v) << "\n";
    }
  }
  bool any_histogram = false;
  for (const auto& [label, series] : routes_) {
    any_histogram = any_histogram || series->observed();
  }
  if (any_histogram) {
    const std::string name = "twostep_http_request_duration_seconds";
    header(name, "histogram");
    for (const auto& [label, series] : routes_) {
      series->render_histogram(os, name);
    }
  }
  for (const auto& [name, g] : gauges_) {
    os << "# HELP " << name << " " << g.first << "\n# TYPE " << name << " gauge\n";
    os << name << " " << num(g.second()) << "\n";
  }
  return os.str();
}

}  // namespace twostep::core
