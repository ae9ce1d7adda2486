#include "twostep/core/metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace twostep::core {
namespace {

// The exposition text is a contract with every Prometheus scraper: this pins it byte for byte
// (series order, label order, histogram buckets, number formatting).
TEST(MetricsTest, RenderFormatIsExact) {
  Metrics m;
  m.observe_request("/b", "GET", 200, 0.0004);
  m.observe_request("/b", "GET", 200, 0.003);
  m.observe_request("/a", "POST", 401, 0.2);
  m.observe_request("/b", "GET", 404, 3.0);
  m.inc("twostep_login_total", "outcome=\"failed\"");
  m.describe("twostep_login_total", "counter", "Sign-in attempts by outcome.");
  m.gauge("twostep_queue", "Jobs queued.", [] { return 2.0; });
  const std::string want =
      "# HELP twostep_http_requests_total HTTP requests by route, method and "
      "status.\n"
      "# TYPE twostep_http_requests_total counter\n"
      "twostep_http_requests_total{route=\"/"
      "a\",method=\"POST\",status=\"401\"} 1\n"
      "twostep_http_requests_total{route=\"/b\",method=\"GET\",status=\"200\"} "
      "2\n"
      "twostep_http_requests_total{route=\"/b\",method=\"GET\",status=\"404\"} "
      "1\n"
      "# HELP twostep_login_total Sign-in attempts by outcome.\n"
      "# TYPE twostep_login_total counter\n"
      "twostep_login_total{outcome=\"failed\"} 1\n"
      "# HELP twostep_http_request_duration_seconds HTTP request latency by "
      "route.\n"
      "# TYPE twostep_http_request_duration_seconds histogram\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "a\",le=\"0.00050000000000000001\"} 0\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.001\"} "
      "0\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "a\",le=\"0.0025000000000000001\"} 0\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "a\",le=\"0.0050000000000000001\"} 0\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.01\"} "
      "0\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "a\",le=\"0.025000000000000001\"} 0\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "a\",le=\"0.050000000000000003\"} 0\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "a\",le=\"0.10000000000000001\"} 0\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.25\"} "
      "1\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.5\"} "
      "1\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/a\",le=\"1\"} 1\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/a\",le=\"2.5\"} "
      "1\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} "
      "1\n"
      "twostep_http_request_duration_seconds_sum{route=\"/a\"} "
      "0.20000000000000001\n"
      "twostep_http_request_duration_seconds_count{route=\"/a\"} 1\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "b\",le=\"0.00050000000000000001\"} 1\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/b\",le=\"0.001\"} "
      "1\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "b\",le=\"0.0025000000000000001\"} 1\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "b\",le=\"0.0050000000000000001\"} 2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/b\",le=\"0.01\"} "
      "2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "b\",le=\"0.025000000000000001\"} 2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "b\",le=\"0.050000000000000003\"} 2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/"
      "b\",le=\"0.10000000000000001\"} 2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/b\",le=\"0.25\"} "
      "2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/b\",le=\"0.5\"} "
      "2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/b\",le=\"1\"} 2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/b\",le=\"2.5\"} "
      "2\n"
      "twostep_http_request_duration_seconds_bucket{route=\"/b\",le=\"+Inf\"} "
      "3\n"
      "twostep_http_request_duration_seconds_sum{route=\"/b\"} "
      "3.0034000000000001\n"
      "twostep_http_request_duration_seconds_count{route=\"/b\"} 3\n"
      "# HELP twostep_queue Jobs queued.\n"
      "# TYPE twostep_queue gauge\n"
      "twostep_queue 2\n";
  EXPECT_EQ(m.render(), want);
}

TEST(MetricsTest, EmptyRegistryRendersOnlyGauges) {
  Metrics m;
  EXPECT_EQ(m.render(), "");
  m.gauge("g", "A gauge.", [] { return 0.5; });
  EXPECT_EQ(m.render(), "# HELP g A gauge.\n# TYPE g gauge\ng 0.5\n");
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics m;
  m.observe_request("/x\"y\\z\n", "GET", 200, 0.1);
  std::string out = m.render();
  EXPECT_NE(out.find(R"(route="/x\"y\\z\n",method="GET",status="200"} 1)"), std::string::npos)
      << out;
}

// More (method, status) pairs than a route's lock-free table holds: the rest are still counted,
// through the locked counters, and rendered in the same series.
TEST(MetricsTest, ManyStatusesPerRouteAreAllCounted) {
  Metrics m;
  auto& series = m.route("/r");
  for (int status = 100; status < 200; ++status) {
    m.observe_request(series, "GET", status, 0.01);
    m.observe_request(series, "GET", status, 0.01);
  }
  m.observe_request(series, "BREW", 418,
                    0.01);  // not a method label the table knows
  std::string out = m.render();
  for (int status = 100; status < 200; ++status) {
    std::string line = "twostep_http_requests_total{route=\"/r\",method=\"GET\",status=\"" +
                       std::to_string(status) + "\"} 2\n";
    EXPECT_NE(out.find(line), std::string::npos) << line;
  }
  EXPECT_NE(out.find("{route=\"/r\",method=\"BREW\",status=\"418\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("twostep_http_request_duration_seconds_count{route=\"/r\"} 201\n"),
            std::string::npos);
}

// A registered route that saw no request is not rendered (as before registration existed).
TEST(MetricsTest, RegisteredButUnusedRouteIsNotRendered) {
  Metrics m;
  m.route("/quiet");
  EXPECT_EQ(m.render(), "");
}

// Concurrent observers on several threads lose no counts (the per-route series are updated without
// the registry lock).
TEST(MetricsTest, ConcurrentObservationsAreAllCounted) {
  Metrics m;
  constexpr int kThreads = 4;
  constexpr int kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kEach; ++i) {
        m.observe_request(i % 2 ? "/odd" : "/even", t % 2 ? "GET" : "POST", 200 + (i % 3), 0.001);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::string out = m.render();
  auto value = [&out](const std::string& series) -> long {
    auto pos = out.find(series + " ");
    if (pos == std::string::npos) return -1;
    return std::stol(out.substr(pos + series.size() + 1));
  };
  long total = 0;
  for (const char* route : {"/odd", "/even"}) {
    for (const char* method : {"GET", "POST"}) {
      for (int status : {200, 201, 202}) {
        long v = value(std::string("twostep_http_requests_total{route=\"") + route +
                       "\",method=\"" + method + "\",status=\"" + std::to_string(status) + "\"}");
        ASSERT_GT(v, 0) << route << method << status;
        total += v;
      }
    }
    EXPECT_EQ(
        value(std::string("twostep_http_request_duration_seconds_count{route=\"") + route + "\"}"),
        kThreads * kEach / 2);
  }
  EXPECT_EQ(total, kThreads * kEach);
}

}  // namespace
}  // namespace twostep::core
