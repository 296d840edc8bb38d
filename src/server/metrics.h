// Metrics: counters, gauges and fixed-bucket histograms with labels, and
// their exposition in the Prometheus text format (version 0.0.4).
//
//   MetricsRegistry registry;
//   auto* requests = registry.AddCounter("quarry_http_requests_total", "HTTP requests.",
//                                        {"route", "status"});
//   requests->With({"/healthz", "200"}).Increment();
//   std::string text = registry.Expose();
//
// Values that are cheaper to read when scraped than to keep up to date
// (process RSS, index sizes) come from collectors: callbacks run by Expose().
//
// Thread-safety: everything may be used from many threads at once. Metric
// references returned by With() stay valid as long as the registry.
#ifndef QUARRY_SERVER_METRICS_H_
#define QUARRY_SERVER_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace quarry::server {

class Counter {
 public:
  void Increment(double amount = 1.0);
  double Value() const;

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // REQUIRES: `upper_bounds` ascending and finite; +Inf is implied.
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf (= count)
    double sum = 0.0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> buckets_;  // per bound, plus one for +Inf
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

// Latency buckets in seconds, 0.5 ms .. 30 s.
std::vector<double> DefaultLatencyBuckets();

// A metric and its labelled children.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // The child with these label values (in the order of the label names).
  T& With(const std::vector<std::string>& label_values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls fn(label_values, metric) for every child, in label order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    std::lock_guard lock(mu_);
    for (const auto& [labels, metric] : children_) fn(labels, *metric);
  }

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

template <typename T>
T& Family<T>::With(const std::vector<std::string>& label_values) {
  std::lock_guard lock(mu_);
  auto it = children_.find(label_values);
  if (it == children_.end()) it = children_.emplace(label_values, make_()).first;
  return *it->second;
}

// One sample a collector reports: labels (name, value) and a value.
struct GaugeSample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0.0;
};

class MetricsRegistry {
 public:
  Family<Counter>* AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>* AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>* AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> upper_bounds);
  // A gauge whose samples `collect` returns at each exposition.
  void AddGaugeCollector(std::string name, std::string help,
                         std::function<std::vector<GaugeSample>()> collect);
  // The same for a counter kept elsewhere (monotonic; exposed as TYPE counter).
  void AddCounterCollector(std::string name, std::string help,
                           std::function<std::vector<GaugeSample>()> collect);

  // Prometheus text exposition format; Content-Type
  // "text/plain; version=0.0.4; charset=utf-8".
  std::string Expose() const;

 private:
  struct Collector {
    std::string name;
    std::string help;
    std::function<std::vector<GaugeSample>()> collect;
    const char* type = "gauge";
  };
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<Collector> collectors_;
};

// Resident set size of this process in bytes (from /proc/self/statm; 0 when
// unavailable).
uint64_t ProcessResidentBytes();

// A Prometheus sample value: integers without exponent, NaN, +Inf, -Inf.
std::string FormatMetricValue(double value);
// Escapes backslash, double quote and newline for a label value.
std::string EscapeLabelValue(const std::string& value);

}  // namespace quarry::server

#endif  // QUARRY_SERVER_METRICS_H_
