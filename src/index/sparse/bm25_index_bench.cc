// Micro-benchmark: Search (windowed MaxScore) vs exhaustive scoring on two
// synthetic corpora. Counters: QPS, postings, index bytes per posting, and how
// many queries disagree between the two paths at k = 10 (must be 0).
//
//   quarry_sparse_bench [--benchmark_filter=...]
//
// Zipf: independent Zipf(1) words, ~150 per document; 3-8 query words drawn
// from the same Zipf (the 50 most frequent excluded).
//   env QUARRY_BENCH_DOCS (default 200000), QUARRY_BENCH_VOCAB (default 50000)
// Topics: documents the size of a chunk (~100 words), each about one of 1000
// topics; 30% of its words come from the topic's 300 words (Zipf within the
// topic), the rest from a background Zipf(1). Queries take 2-5 words of one
// topic plus 1-3 background words, so query terms co-occur as in real text.
//   env QUARRY_BENCH_TOPIC_DOCS (default 1000000)
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

std::vector<std::string> MakeWords(uint32_t count, const char* prefix) {
  std::vector<std::string> words(count);
  for (uint32_t r = 0; r < count; ++r) words[r] = prefix + std::to_string(r);
  return words;
}

void CountMismatches(Fixture* f) {
  for (const auto& query : f->queries) {
    const auto a = f->index.Search(query, 10);
    const auto b = f->index.SearchExhaustive(query, 10);
    bool same = a.size() == b.size();
    for (size_t i = 0; same && i < a.size(); ++i) {
      same = a[i].point_id == b[i].point_id && a[i].score == b[i].score;
    }
    f->mismatches_k10 += same ? 0 : 1;
  }
}

const Fixture& ZipfFixture() {
  static const std::unique_ptr<Fixture> fixture = [] {
    auto f = std::make_unique<Fixture>();
    const uint32_t docs = EnvOr("QUARRY_BENCH_DOCS", 200000);
    const uint32_t vocab = EnvOr("QUARRY_BENCH_VOCAB", 50000);
    const std::vector<std::string> words = MakeWords(vocab, "w");
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
    CountMismatches(f.get());
    return f;
  }();
  return *fixture;
}

const Fixture& TopicFixture() {
  static const std::unique_ptr<Fixture> fixture = [] {
    constexpr uint32_t kTopics = 1000;
    constexpr uint32_t kTopicWords = 300;
    constexpr uint32_t kBackgroundWords = 100000;
    constexpr double kTopicShare = 0.3;
    auto f = std::make_unique<Fixture>();
    const uint32_t docs = EnvOr("QUARRY_BENCH_TOPIC_DOCS", 1000000);
    const std::vector<std::string> background = MakeWords(kBackgroundWords, "b");
    const std::vector<std::string> topic_words = MakeWords(kTopics * kTopicWords, "t");
    ZipfSampler background_zipf(kBackgroundWords, 1.0);
    ZipfSampler topic_zipf(kTopicWords, 0.8);
    ZipfSampler topic_pick(kTopics, 0.7);  // some topics are far more common
    std::mt19937_64 rng(7);
    std::normal_distribution<double> doc_len(100.0, 30.0);
    std::bernoulli_distribution from_topic(kTopicShare);
    std::vector<std::string> terms;
    for (uint32_t d = 0; d < docs; ++d) {
      const uint32_t topic = topic_pick(rng);
      const int len = std::max(5, static_cast<int>(doc_len(rng)));
      terms.clear();
      for (int i = 0; i < len; ++i) {
        terms.push_back(from_topic(rng) ? topic_words[topic * kTopicWords + topic_zipf(rng)]
                                        : background[background_zipf(rng)]);
      }
      f->index.AddTerms(d * 11400714819323198485ull >> 20, terms);
    }
    std::uniform_int_distribution<int> topic_terms(2, 5);
    std::uniform_int_distribution<int> background_terms(1, 3);
    for (int q = 0; q < kNumQueries; ++q) {
      std::vector<std::string> query;
      const uint32_t topic = topic_pick(rng);
      for (int i = topic_terms(rng); i > 0; --i) {
        query.push_back(topic_words[topic * kTopicWords + topic_zipf(rng)]);
      }
      for (int i = background_terms(rng); i > 0;) {
        const uint32_t rank = background_zipf(rng);
        if (rank >= kStopwords) {
          query.push_back(background[rank]);
          --i;
        }
      }
      f->queries.push_back(std::move(query));
    }
    CountMismatches(f.get());
    return f;
  }();
  return *fixture;
}

enum class Method { kSearch, kExhaustive };

template <const Fixture& (*GetFixture)(), Method method>
void BM_Search(benchmark::State& state) {
  const Fixture& f = GetFixture();
  const size_t k = static_cast<size_t>(state.range(0));
  int64_t queries = 0;
  for (auto _ : state) {
    const auto& query = f.queries[queries % kNumQueries];
    if (method == Method::kSearch) {
      benchmark::DoNotOptimize(f.index.Search(query, k));
    } else {
      benchmark::DoNotOptimize(f.index.SearchExhaustive(query, k));
    }
    ++queries;
  }
  const Bm25Stats stats = f.index.Stats();
  state.counters["QPS"] = benchmark::Counter(static_cast<double>(queries),
                                             benchmark::Counter::kIsRate);
  state.counters["docs"] = static_cast<double>(stats.documents);
  state.counters["postings"] = static_cast<double>(stats.postings);
  state.counters["bytes_per_posting"] =
      static_cast<double>(stats.memory_bytes) / static_cast<double>(stats.postings);
  state.counters["mismatches_k10"] = static_cast<double>(f.mismatches_k10);
}

BENCHMARK(BM_Search<ZipfFixture, Method::kSearch>)
    ->Name("BM_ZipfMaxScore")->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Search<ZipfFixture, Method::kExhaustive>)
    ->Name("BM_ZipfExhaustive")->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Search<TopicFixture, Method::kSearch>)
    ->Name("BM_TopicsMaxScore")->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Search<TopicFixture, Method::kExhaustive>)
    ->Name("BM_TopicsExhaustive")->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace quarry::index

BENCHMARK_MAIN();
