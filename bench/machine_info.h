// Machine facts every benchmark records beside its results: CPU model, load
// average (other work on the machine shows up in tail latencies first) and
// the UTC time of the run. Header-only; reads /proc.
#ifndef QUARRY_BENCH_MACHINE_INFO_H_
#define QUARRY_BENCH_MACHINE_INFO_H_

#include <time.h>

#include <ctime>
#include <fstream>
#include <string>

namespace quarry::bench {

inline std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        size_t begin = line.find_first_not_of(" \t", colon + 1);
        return begin == std::string::npos ? "" : line.substr(begin);
      }
    }
  }
  return "unknown";
}

// The 1-minute load average, -1 when unknown.
inline double LoadAverage1m() {
  std::ifstream in("/proc/loadavg");
  double load = -1.0;
  in >> load;
  return load;
}

inline std::string UtcDate() {
  std::time_t now = std::time(nullptr);
  std::tm tm_utc{};
  gmtime_r(&now, &tm_utc);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
  return buffer;
}

}  // namespace quarry::bench

#endif  // QUARRY_BENCH_MACHINE_INFO_H_
