// Prometheus metrics in text exposition format: labelled counters, one latency histogram
// per route, and gauges read at scrape time. Thread-safe; cheap enough for the hot path.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace twostep::core {

class Metrics {
 public:
  Metrics();
  // twostep_http_requests_total{route,method,status} and the latency histogram.
  void observe_request(const std::string& route, const std::string& method, int status,
                       double seconds);
  // Generic counter: name{labels} += 1. `labels` is already formatted: a="x",b="y".
  void inc(const std::string& name, const std::string& labels, double by = 1);
  // Gauge whose value is read when /metrics is scraped.
  void gauge(const std::string& name, const std::string& help, std::function<double()> read);
  void describe(const std::string& name, const std::string& type, const std::string& help);
  std::string render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> counters_;  // name -> labels -> value
  std::map<std::string, Histogram> latency_;                       // labels -> histogram
  std::map<std::string, std::pair<std::string, std::function<double()>>> gauges_;
  std::map<std::string, std::pair<std::string, std::string>> help_;  // name -> (type, help)
};

// Escapes a label value for the text format.
std::string metric_label(const std::string& value);

}  // namespace twostep::core
