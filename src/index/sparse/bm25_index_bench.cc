// Micro-benchmark: block-max WAND Search vs exhaustive scoring on a synthetic
// Zipf corpus. Counters: QPS, postings, index bytes per posting, and how many
// queries disagree between the two paths (must be 0).
//
//   quarry_sparse_bench [--benchmark_filter=...]
//   env QUARRY_BENCH_DOCS (default 200000), QUARRY_BENCH_VOCAB (default 50000)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "index/sparse/bm25_index.h"

namespace quarry::index {
namespace {

constexpr int kNumQueries = 500;
constexpr uint32_t kStopwords = 50;  // the most frequent ranks never appear in queries

uint32_t EnvOr(const char* name, uint32_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? static_cast<uint32_t>(std::strtoul(value, nullptr, 10)) : fallback;
}

class ZipfSampler {
 public:
  ZipfSampler(uint32_t vocab, double exponent) : cdf_(vocab) {
    double sum = 0.0;
    for (uint32_t r = 0; r < vocab; ++r) cdf_[r] = (sum += 1.0 / std::pow(r + 1.0, exponent));
    for (double& c : cdf_) c /= sum;
  }
  uint32_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<uint32_t>(std::min<size_t>(it - cdf_.begin(), cdf_.size() - 1));
  }

 private:
  std::vector<double> cdf_;
};

struct Fixture {
  Bm25Index index;
  std::vector<std::vector<std::string>> queries;
  uint64_t mismatches_k10 = 0;
};

const Fixture& GetFixture() {
  static const std::unique_ptr<Fixture> fixture = [] {
    auto f = std::make_unique<Fixture>();
    const uint32_t docs = EnvOr("QUARRY_BENCH_DOCS", 200000);
    const uint32_t vocab = EnvOr("QUARRY_BENCH_VOCAB", 50000);
    std::vector<std::string> words(vocab);
    for (uint32_t r = 0; r < vocab; ++r) words[r] = "w" + std::to_string(r);
    ZipfSampler zipf(vocab, 1.0);
    std::mt19937_64 rng(42);
    std::normal_distribution<double> doc_len(150.0, 40.0);
    std::vector<std::string> terms;
    for (uint32_t d = 0; d < docs; ++d) {
      const int len = std::max(5, static_cast<int>(doc_len(rng)));
      terms.clear();
      for (int i = 0; i < len; ++i) terms.push_back(words[zipf(rng)]);
      f->index.AddTerms(d * 11400714819323198485ull >> 20, terms);  // scattered ids
    }
    std::uniform_int_distribution<int> query_len(3, 8);
    for (int q = 0; q < kNumQueries; ++q) {
      std::vector<std::string> query;
      const int n = query_len(rng);
      while (static_cast<int>(query.size()) < n) {
        const uint32_t rank = zipf(rng);
        if (rank >= kStopwords) query.push_back(words[rank]);
      }
      f->queries.push_back(std::move(query));
    }
    for (const auto& query : f->queries) {
      const auto a = f->index.Search(query, 10);
      const auto b = f->index.SearchExhaustive(query, 10);
      bool same = a.size() == b.size();
      for (size_t i = 0; same && i < a.size(); ++i) {
        same = a[i].point_id == b[i].point_id && a[i].score == b[i].score;
      }
      f->mismatches_k10 += same ? 0 : 1;
    }
    return f;
  }();
  return *fixture;
}

void SetCounters(benchmark::State& state, const Fixture& f, int64_t queries) {
  const Bm25Stats stats = f.index.Stats();
  state.counters["QPS"] = benchmark::Counter(static_cast<double>(queries),
                                             benchmark::Counter::kIsRate);
  state.counters["docs"] = static_cast<double>(stats.documents);
  state.counters["postings"] = static_cast<double>(stats.postings);
  state.counters["bytes_per_posting"] =
      static_cast<double>(stats.memory_bytes) / static_cast<double>(stats.postings);
  state.counters["mismatches_k10"] = static_cast<double>(f.mismatches_k10);
}

void BM_SearchBmw(benchmark::State& state) {
  const Fixture& f = GetFixture();
  const size_t k = static_cast<size_t>(state.range(0));
  int64_t queries = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.index.Search(f.queries[queries % kNumQueries], k));
    ++queries;
  }
  SetCounters(state, f, queries);
}

void BM_SearchExhaustive(benchmark::State& state) {
  const Fixture& f = GetFixture();
  const size_t k = static_cast<size_t>(state.range(0));
  int64_t queries = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.index.SearchExhaustive(f.queries[queries % kNumQueries], k));
    ++queries;
  }
  SetCounters(state, f, queries);
}

BENCHMARK(BM_SearchBmw)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SearchExhaustive)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace quarry::index

BENCHMARK_MAIN();
