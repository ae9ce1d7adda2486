// Prometheus metrics in text exposition format: labelled counters, one latency histogram per route,
// and gauges read at scrape time. Thread-safe. The per-request path (a route's request counter and
// latency histogram) takes no lock: each route has a series of atomics, registered once (`route()`)
// when the route table is built.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace twostep::core {

class Metrics {
 public:
  // One route's request counters and latency histogram (lock-free to update).
  class RouteSeries;

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The series of `route`, created on first use. Takes the registry lock: call it when the routes
  // are registered, keep the reference (valid as long as this object) for the hot path.
  RouteSeries& route(const std::string& route);
  // twostep_http_requests_total{route,method,status} and the latency histogram, without a lock.
  // `method` is one of GET HEAD POST PUT DELETE OPTIONS PATCH other unknown; any other label value
  // still works but is counted under the registry lock.
  void observe_request(RouteSeries& route, std::string_view method, int status, double seconds);
  // Same, looking the route up by name (takes the registry lock once).
  void observe_request(const std::string& route, const std::string& method, int status,
                       double seconds);
  // Generic counter: name{labels} += 1. `labels` is already formatted: a="x",b="y".
  void inc(const std::string& name, const std::string& labels, double by = 1);
  // Gauge whose value is read when /metrics is scraped.
  void gauge(const std::string& name, const std::string& help, std::function<double()> read);
  void describe(const std::string& name, const std::string& type, const std::string& help);
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> counters_;  // name -> labels -> value
  // route="..." label -> series; std::map keeps the rendering order stable (sorted by label).
  std::map<std::string, std::unique_ptr<RouteSeries>> routes_;
  std::map<std::string, std::pair<std::string, std::function<double()>>> gauges_;
  std::map<std::string, std::pair<std::string, std::string>> help_;  // name -> (type, help)
};

// Escapes a label value for the text format.
std::string metric_label(const std::string& value);

}  // namespace twostep::core
