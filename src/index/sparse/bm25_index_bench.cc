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
// env QUARRY_BENCH_RELOAD=1: search indexes reloaded from their snapshots.
//
// Memory mode (no timing): builds an index and prints its heap per document,
// from Stats().memory_bytes and from the growth of the resident anonymous
// memory (/proc/self/statm resident - shared; "trimmed": the same after
// malloc_trim, i.e. without freed temporaries the allocator kept), first built
// by Add() (in a child process), then loaded from its own snapshot into a
// fresh heap (Deserialize).
//   quarry_sparse_bench --memory             synthetic: 200k documents of ~256
//       Zipf(1) words over a 200k vocabulary (env QUARRY_MEM_DOCS, QUARRY_MEM_VOCAB)
//   quarry_sparse_bench --memory=SNAPSHOT    a real corpus: the documents of a
//       collection's bm25.snap (e.g. build/bench-data/load-100k/collections/docs),
//       re-added one by one, then the payload itself deserialized.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <string_view>
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

// env QUARRY_BENCH_RELOAD=1: search an index loaded from the built one's
// snapshot (the layout after a restart) instead of the built one.
void MaybeReload(Fixture* f) {
  if (EnvOr("QUARRY_BENCH_RELOAD", 0) == 0) return;
  auto loaded = Bm25Index::Deserialize(f->index.Serialize());
  if (!loaded.ok()) std::abort();
  f->index = std::move(loaded).value();
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
    MaybeReload(f.get());
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
    MaybeReload(f.get());
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

// ---------------------------------------------------------------------------
// Memory mode.

// Resident anonymous bytes: statm's resident minus shared (file-backed) pages.
int64_t AnonRssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long size = 0, resident = 0, shared = 0;
  const int n = std::fscanf(f, "%lld %lld %lld", &size, &resident, &shared);
  std::fclose(f);
  if (n != 3) return 0;
  return (resident - shared) * 4096;
}

void Report(const char* what, const Bm25Index& index, int64_t rss_before) {
  const int64_t rss = AnonRssBytes() - rss_before;
  malloc_trim(0);  // what the allocator kept of freed temporaries
  const int64_t trimmed = AnonRssBytes() - rss_before;
  const Bm25Stats stats = index.Stats();
  const double docs = static_cast<double>(std::max<uint64_t>(stats.documents, 1));
  std::printf(
      "%-28s docs %llu  terms %llu  postings/doc %.1f  memory_bytes/doc %.1f  "
      "rss/doc %.1f  (trimmed %.1f)  (memory_bytes %.1f MB, rss %.1f MB)\n",
      what, static_cast<unsigned long long>(stats.documents),
      static_cast<unsigned long long>(stats.terms), static_cast<double>(stats.postings) / docs,
      static_cast<double>(stats.memory_bytes) / docs, static_cast<double>(rss) / docs,
      static_cast<double>(trimmed) / docs,
      static_cast<double>(stats.memory_bytes) / 1e6, static_cast<double>(rss) / 1e6);
}

// Loads `payload` into a fresh index and reports it.
int ReportLoad(const std::string& payload) {
  const int64_t before = AnonRssBytes();
  auto loaded = Bm25Index::Deserialize(payload);
  if (!loaded.ok()) {
    std::printf("deserialize failed: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  Report("deserialized", *loaded, before);
  return 0;
}

// Runs build() (which reports and returns the index) in a child process, so
// that each measure starts from a fresh heap, and returns its snapshot payload.
template <typename Build>
std::string BuildInChild(Build build) {
  char path[] = "/tmp/quarry_bm25_memory_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return "";
  close(fd);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    std::unique_ptr<Bm25Index> index = build();
    const std::string payload = index->Serialize();
    std::ofstream(path, std::ios::binary)
        .write(payload.data(), static_cast<std::streamsize>(payload.size()));
    std::fflush(stdout);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream file(path, std::ios::binary);
  std::string payload((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::remove(path);
  return payload;
}

int MemorySynthetic() {
  const uint32_t docs = EnvOr("QUARRY_MEM_DOCS", 200000);
  const uint32_t vocab = EnvOr("QUARRY_MEM_VOCAB", 200000);
  std::printf("synthetic Zipf(1), %u docs of ~256 words, vocabulary %u\n", docs, vocab);
  const std::string payload = BuildInChild([&] {
    const std::vector<std::string> words = MakeWords(vocab, "w");
    ZipfSampler zipf(vocab, 1.0);
    std::mt19937_64 rng(1234);
    std::normal_distribution<double> doc_len(256.0, 40.0);
    std::vector<std::string> terms;
    terms.reserve(1024);
    const int64_t before = AnonRssBytes();
    auto index = std::make_unique<Bm25Index>();
    for (uint32_t d = 0; d < docs; ++d) {
      const int len = std::max(8, static_cast<int>(doc_len(rng)));
      terms.clear();
      for (int i = 0; i < len; ++i) terms.push_back(words[zipf(rng)]);
      index->AddTerms(d * 11400714819323198485ull >> 20, terms);
    }
    Report("built by Add", *index, before);
    return index;
  });
  return ReportLoad(payload);
}

// Minimal reader of the snapshot framing and the version-1 payload (see
// bm25_index.cc): just enough to recover each document's terms.
struct SnapshotDoc {
  uint64_t point_id = 0;
  float length = 0.0f;
  std::vector<WeightedTerm> terms;
};

bool ReadVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const uint64_t b = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *v |= (b & 0x7F) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

bool ReadValue(std::string_view* in, float* v) {
  uint64_t code;
  if (!ReadVarint(in, &code)) return false;
  if (code != 1) {
    *v = static_cast<float>(code >> 1);
    return true;
  }
  if (in->size() < 4) return false;
  std::memcpy(v, in->data(), 4);
  in->remove_prefix(4);
  return true;
}

bool ParseDocs(std::string_view in, std::vector<SnapshotDoc>* docs) {
  in.remove_prefix(16);  // magic, version, k1, b
  uint64_t num_docs = 0, num_terms = 0;
  bool ok = ReadVarint(&in, &num_docs);
  docs->resize(num_docs);
  for (SnapshotDoc& doc : *docs) {
    ok = ok && ReadVarint(&in, &doc.point_id) && ReadValue(&in, &doc.length);
  }
  ok = ok && ReadVarint(&in, &num_terms);
  for (uint64_t t = 0; ok && t < num_terms; ++t) {
    uint64_t size = 0, df = 0, slot = 0, gap = 0;
    ok = ReadVarint(&in, &size) && size <= in.size();
    if (!ok) break;
    const std::string term(in.substr(0, size));
    in.remove_prefix(size);
    ok = ReadVarint(&in, &df);
    for (uint64_t i = 0; ok && i < df; ++i) {
      float tf = 0.0f;
      ok = ReadVarint(&in, &gap) && ReadValue(&in, &tf);
      slot = i == 0 ? gap : slot + 1 + gap;
      ok = ok && slot < docs->size();
      if (ok) (*docs)[slot].terms.push_back({term, tf});
    }
  }
  return ok;
}

int MemorySnapshot(const std::string& path) {
  std::string payload;
  {
    std::ifstream file(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    if (bytes.size() < 36 + 16) {
      std::printf("cannot read %s\n", path.c_str());
      return 1;
    }
    payload = bytes.substr(32, bytes.size() - 36);  // framing: 32 + 4 bytes
  }
  std::printf("snapshot %s\n", path.c_str());
  BuildInChild([&] {
    std::vector<SnapshotDoc> docs;
    if (!ParseDocs(payload, &docs)) {
      std::printf("cannot parse the payload of %s\n", path.c_str());
      _exit(1);
    }
    const int64_t before = AnonRssBytes();
    auto index = std::make_unique<Bm25Index>();
    for (const SnapshotDoc& doc : docs) index->Add(doc.point_id, doc.terms, doc.length);
    Report("built by Add", *index, before);
    return index;
  });
  return ReportLoad(payload);
}

}  // namespace
}  // namespace quarry::index

int main(int argc, char** argv) {
  if (argc >= 2 && std::strncmp(argv[1], "--memory", 8) == 0) {
    if (argv[1][8] == '=') return quarry::index::MemorySnapshot(argv[1] + 9);
    return quarry::index::MemorySynthetic();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
