#include "server/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace quarry::server {
namespace {

void AppendLabels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                  const std::string& extra_name, const std::string& extra_value, std::string* out) {
  if (names.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  for (size_t label_idx = 0; label_idx < names.size() && label_idx < values.size(); ++label_idx) {
    if (!first) out->push_back(',');
    first = false;
    *out += names[label_idx] + "=\"" + EscapeLabelValue(values[label_idx]) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out->push_back(',');
    *out += extra_name + "=\"" + EscapeLabelValue(extra_value) + "\"";
  }
  out->push_back('}');
}

void AppendHeader(const std::string& name, const std::string& help, const char* type,
                  std::string* out) {
  std::string escaped_help;
  for (char c : help) {
    if (c == '\\') {
      escaped_help += "\\\\";
    } else if (c == '\n') {
      escaped_help += "\\n";
    } else {
      escaped_help += c;
    }
  }
  *out += "# HELP " + name + " " + escaped_help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Counter::Increment(double amount) {
  double current = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

double Counter::Value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::Add(double amount) {
  double current = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), buckets_(upper_bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  size_t bucket = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  std::lock_guard lock(mu_);
  ++buckets_[bucket];
  sum_ += value;
  ++count_;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  std::lock_guard lock(mu_);
  uint64_t running = 0;
  for (uint64_t n : buckets_) {
    running += n;
    snapshot.cumulative.push_back(running);
  }
  snapshot.sum = sum_;
  snapshot.count = count_;
  return snapshot;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

Family<Counter>* MetricsRegistry::AddCounter(std::string name, std::string help,
                                             std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  counters_.push_back(std::make_unique<Family<Counter>>(
      std::move(name), std::move(help), std::move(label_names),
      [] { return std::make_unique<Counter>(); }));
  return counters_.back().get();
}

Family<Gauge>* MetricsRegistry::AddGauge(std::string name, std::string help,
                                         std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  gauges_.push_back(std::make_unique<Family<Gauge>>(std::move(name), std::move(help),
                                                    std::move(label_names),
                                                    [] { return std::make_unique<Gauge>(); }));
  return gauges_.back().get();
}

Family<Histogram>* MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                 std::vector<std::string> label_names,
                                                 std::vector<double> upper_bounds) {
  std::lock_guard lock(mu_);
  histograms_.push_back(std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(label_names),
      [upper_bounds] { return std::make_unique<Histogram>(upper_bounds); }));
  return histograms_.back().get();
}

void MetricsRegistry::AddGaugeCollector(std::string name, std::string help,
                                        std::function<std::vector<GaugeSample>()> collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back({std::move(name), std::move(help), std::move(collect), "gauge"});
}

void MetricsRegistry::AddCounterCollector(std::string name, std::string help,
                                          std::function<std::vector<GaugeSample>()> collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back({std::move(name), std::move(help), std::move(collect), "counter"});
}

std::string MetricsRegistry::Expose() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& family : counters_) {
    AppendHeader(family->name(), family->help(), "counter", &out);
    family->ForEach([&](const std::vector<std::string>& labels, const Counter& counter) {
      out += family->name();
      AppendLabels(family->label_names(), labels, "", "", &out);
      out += " " + FormatMetricValue(counter.Value()) + "\n";
    });
  }
  for (const auto& family : gauges_) {
    AppendHeader(family->name(), family->help(), "gauge", &out);
    family->ForEach([&](const std::vector<std::string>& labels, const Gauge& gauge) {
      out += family->name();
      AppendLabels(family->label_names(), labels, "", "", &out);
      out += " " + FormatMetricValue(gauge.Value()) + "\n";
    });
  }
  for (const auto& family : histograms_) {
    AppendHeader(family->name(), family->help(), "histogram", &out);
    family->ForEach([&](const std::vector<std::string>& labels, const Histogram& histogram) {
      Histogram::Snapshot snapshot = histogram.Read();
      for (size_t bucket = 0; bucket < snapshot.cumulative.size(); ++bucket) {
        out += family->name() + "_bucket";
        std::string le = bucket < snapshot.upper_bounds.size()
                             ? FormatMetricValue(snapshot.upper_bounds[bucket])
                             : "+Inf";
        AppendLabels(family->label_names(), labels, "le", le, &out);
        out += " " + std::to_string(snapshot.cumulative[bucket]) + "\n";
      }
      out += family->name() + "_sum";
      AppendLabels(family->label_names(), labels, "", "", &out);
      out += " " + FormatMetricValue(snapshot.sum) + "\n";
      out += family->name() + "_count";
      AppendLabels(family->label_names(), labels, "", "", &out);
      out += " " + std::to_string(snapshot.count) + "\n";
    });
  }
  for (const auto& collector : collectors_) {
    AppendHeader(collector.name, collector.help, collector.type, &out);
    for (const GaugeSample& sample : collector.collect()) {
      out += collector.name;
      if (!sample.labels.empty()) {
        out.push_back('{');
        for (size_t label_idx = 0; label_idx < sample.labels.size(); ++label_idx) {
          if (label_idx > 0) out.push_back(',');
          out += sample.labels[label_idx].first + "=\"" +
                 EscapeLabelValue(sample.labels[label_idx].second) + "\"";
        }
        out.push_back('}');
      }
      out += " " + FormatMetricValue(sample.value) + "\n";
    }
  }
  return out;
}

uint64_t ProcessResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0;
  uint64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  long page = ::sysconf(_SC_PAGESIZE);
  return resident_pages * static_cast<uint64_t>(page > 0 ? page : 4096);
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9.007199254740992e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", value);
    return buf;
  }
  // The shortest form that reads back as the same double.
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace quarry::server
