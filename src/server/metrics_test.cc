#include "server/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace quarry::server {
namespace {

TEST(MetricsTest, ExpositionFormat) {
  MetricsRegistry registry;
  auto* requests = registry.AddCounter("x_requests_total", "Requests.", {"route", "status"});
  requests->With({"/a", "200"}).Increment();
  requests->With({"/a", "200"}).Increment(2);
  requests->With({"/b\"q", "404"}).Increment();
  auto* latency = registry.AddHistogram("x_seconds", "Latency.", {"route"}, {0.1, 1});
  latency->With({"/a"}).Observe(0.05);
  latency->With({"/a"}).Observe(0.5);
  latency->With({"/a"}).Observe(5);
  registry.AddGaugeCollector("x_rss_bytes", "RSS.", [] {
    return std::vector<GaugeSample>{{{{"kind", "resident"}}, 1024}};
  });
  std::string text = registry.Expose();
  EXPECT_NE(text.find("# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("x_requests_total{route=\"/a\",status=\"200\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("x_requests_total{route=\"/b\\\"q\",status=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_sum{route=\"/a\"} 5.55\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_count{route=\"/a\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("x_rss_bytes{kind=\"resident\"} 1024\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentIncrements) {
  MetricsRegistry registry;
  auto* counter = registry.AddCounter("c_total", "C.");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) counter->With({}).Increment();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter->With({}).Value(), 80000);
}

TEST(MetricsTest, ValueFormatting) {
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(0.0005), "0.0005");
  EXPECT_EQ(FormatMetricValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatMetricValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_GT(ProcessResidentBytes(), 0u);
}

}  // namespace
}  // namespace quarry::server
