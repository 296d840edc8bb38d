// The layered cache on the paths it serves (bench/run_cache.sh drives it).
//
// Phase "full" (one process):
//   1. ingest SciFact's corpus with a model through a CachingEmbedder (memory +
//      Redis), timed;
//   2. re-ingest the unchanged corpus into a fresh collection after dropping
//      the memory layer, so every vector must come from Redis: the share of
//      chunks served from the cache and the time saved;
//   3. replay a query log (below) against hybrid search with the result and
//      query-embedding caches: hit rate after warm-up, p50 of memory hits and
//      of misses; then p50 of Redis hits (memory dropped before each lookup)
//      and of the same searches with no cache at all.
// Phase "shared" (a second process, same data and Redis, fresh memory):
//   replays a log drawn with another seed; its hits come from what the first
//   process left in Redis.
//
// The query log: requests draw SciFact's 1,109 queries with Zipf skew
// (P(rank r) ∝ 1/r^s, s = 1.0, over a seeded permutation of the queries),
// each request then lightly reworded:
//   50% as written; 15% lower-cased; 15% with doubled spaces and a trailing
//   blank; 10% in Title Case — three surface forms the tokenizer (uncased
//   WordPiece) and the BM25 analyzer normalize away, so they share cache
//   entries with the original; 10% a real rewording ("what about " prefixed),
//   which runs other token ids and is a distinct entry.
//
// Prints one JSON object to --out.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "machine_info.h"
#include "cache/cache.h"
#include "embed/caching_embedder.h"
#include "embed/embedder.h"
#include "quarry/engine.h"
#include "search/hybrid.h"

namespace {

using quarry::Status;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "cache_bench: " << what << "\n";
  std::exit(1);
}

std::vector<std::string> LoadQueries(const std::string& path) {
  std::ifstream in(path);
  if (!in) Die("cannot read " + path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    out.push_back(j.at("text").get<std::string>());
  }
  return out;
}

std::string Reword(const std::string& q, int variant) {
  std::string s = q;
  switch (variant) {
    case 1:
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    case 2: {
      std::string out;
      for (char c : s) {
        out.push_back(c);
        if (c == ' ') out.push_back(' ');
      }
      return out + " ";
    }
    case 3: {
      bool start = true;
      for (char& c : s) {
        const auto u = static_cast<unsigned char>(c);
        c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
        start = c == ' ';
      }
      return s;
    }
    case 4:
      return "what about " + s;
    default:
      return s;
  }
}

// `n` requests: Zipf(s) over a seeded permutation, then a rewording.
std::vector<std::string> MakeLog(const std::vector<std::string>& queries, size_t n, double s,
                                 uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> perm(queries.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<double> weights(queries.size());
  for (size_t r = 0; r < weights.size(); ++r) weights[r] = 1.0 / std::pow(double(r + 1), s);
  std::discrete_distribution<size_t> rank(weights.begin(), weights.end());
  std::discrete_distribution<int> variant({50, 15, 15, 10, 10});
  std::vector<std::string> log;
  log.reserve(n);
  for (size_t i = 0; i < n; ++i) log.push_back(Reword(queries[perm[rank(rng)]], variant(rng)));
  return log;
}

struct Replay {
  size_t requests = 0, hits = 0, memory_hits = 0, redis_hits = 0;
  std::vector<double> memory_hit_ms, redis_hit_ms, miss_ms;
};

Replay Run(const quarry::Collection& coll, quarry::embed::Embedder* embedder,
           quarry::cache::LayeredCache* cache, const std::vector<std::string>& log, size_t skip) {
  Replay r;
  const size_t kind = static_cast<size_t>(quarry::cache::Kind::kSearchResult);
  for (size_t i = 0; i < log.size(); ++i) {
    quarry::search::TextSearchOptions o;
    o.text = log[i];
    o.limit = 10;
    const auto before = cache->Stats().kinds[kind];
    const auto t0 = Clock::now();
    auto result = quarry::search::SearchText(coll, embedder, nullptr, o, cache);
    const double ms = Ms(t0);
    if (!result.ok()) Die(result.status().ToString());
    if (i < skip) continue;  // warm-up
    const auto after = cache->Stats().kinds[kind];
    ++r.requests;
    if (!result->cached) {
      r.miss_ms.push_back(ms);
    } else {
      ++r.hits;
      if (after.memory_hits > before.memory_hits) {
        ++r.memory_hits;
        r.memory_hit_ms.push_back(ms);
      } else {
        ++r.redis_hits;
        r.redis_hit_ms.push_back(ms);
      }
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string scifact, model_dir, data_dir, redis_url, out_path, phase = "full", precision = "int8";
  size_t requests = 20000;
  double zipf_s = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--scifact") scifact = value;
    else if (flag == "--model") model_dir = value;
    else if (flag == "--data") data_dir = value;
    else if (flag == "--redis") redis_url = value;
    else if (flag == "--out") out_path = value;
    else if (flag == "--phase") phase = value;
    else if (flag == "--precision") precision = value;
    else if (flag == "--requests") requests = std::stoul(value);
    else if (flag == "--zipf") zipf_s = std::stod(value);
    else Die("unknown flag " + flag);
  }
  if (scifact.empty() || model_dir.empty() || data_dir.empty() || out_path.empty()) {
    Die("usage: --scifact DIR --model DIR --data DIR --out FILE [--redis URL] [--phase full|shared]");
  }

  quarry::cache::CacheOptions cache_options;
  cache_options.memory_bytes = 256ull << 20;
  cache_options.redis_url = redis_url;
  cache_options.redis_timeout = std::chrono::milliseconds(200);
  auto cache = quarry::cache::LayeredCache::Open(cache_options);
  if (!cache.ok()) Die(cache.status().ToString());
  quarry::embed::LocalModelOptions model_options;
  auto parsed = quarry::model::ParsePrecision(precision);
  if (!parsed.ok()) Die(parsed.status().ToString());
  model_options.precision = *parsed;
  auto model = quarry::embed::OpenLocalEmbedder(model_dir, model_options);
  if (!model.ok()) Die(model.status().ToString());
  quarry::embed::CachingEmbedder embedder(model->get(), cache->get());

  quarry::EngineOptions engine_options;
  engine_options.data_dir = data_dir;
  engine_options.map_size = 8ull << 30;
  auto engine = quarry::Engine::Open(engine_options);
  if (!engine.ok()) Die(engine.status().ToString());
  quarry::CollectionOptions collection_options;
  quarry::DenseVectorConfig dense;
  dense.name = "text";
  dense.dim = embedder.dim();
  dense.quantization = quarry::VectorQuantization::kInt8;
  collection_options.dense_vectors = {dense};
  quarry::search::EmbedderChunkAdapter adapter(&embedder);
  quarry::IngestOptions ingest;
  ingest.embedder = &adapter;

  auto ingest_into = [&](const std::string& name, double* seconds, uint64_t* chunks) {
    (void)(*engine)->DropCollection(name);
    auto coll = (*engine)->GetOrCreateCollection(name, collection_options);
    if (!coll.ok()) Die(coll.status().ToString());
    quarry::IngestProgress progress;
    const auto t0 = Clock::now();
    Status st = quarry::IngestPaths(*coll, {std::filesystem::path(scifact) / "corpus.jsonl"},
                                    ingest, nullptr, &progress);
    if (!st.ok()) Die(st.ToString());
    *seconds = Ms(t0) / 1000.0;
    *chunks = progress.chunks;
    return *coll;
  };

  const auto queries = LoadQueries(scifact + "/queries.jsonl");
  nlohmann::json out = {{"machine", {{"cpu", quarry::bench::CpuModel()},
                                     {"load_1m", quarry::bench::LoadAverage1m()},
                                     {"date", quarry::bench::UtcDate()}}},
                        {"phase", phase},
                        {"model", embedder.model_id()},
                        {"precision", precision},
                        {"redis", !redis_url.empty()},
                        {"queries_distinct", queries.size()},
                        {"requests", requests},
                        {"zipf_s", zipf_s}};
  quarry::Collection* coll = nullptr;
  if (phase == "full") {
    double first_s = 0, again_s = 0;
    uint64_t first_chunks = 0, again_chunks = 0;
    ingest_into("scifact-reingest", &first_s, &first_chunks);
    const uint64_t computed_first = embedder.computed();
    if (!redis_url.empty()) (*cache)->ClearMemory();  // the vectors must come from Redis
    const uint64_t cached_before = embedder.served_from_cache();
    const uint64_t computed_before = embedder.computed();
    coll = ingest_into("scifact", &again_s, &again_chunks);
    const uint64_t from_cache = embedder.served_from_cache() - cached_before;
    const uint64_t computed = embedder.computed() - computed_before;
    (void)(*engine)->DropCollection("scifact-reingest");
    out["ingest"] = {{"chunks", first_chunks},
                     {"first_s", first_s},
                     {"first_computed", computed_first},
                     {"reingest_s", again_s},
                     {"reingest_from_cache", from_cache},
                     {"reingest_computed", computed},
                     {"time_saved_share", first_s > 0 ? 1.0 - again_s / first_s : 0.0}};
    out["reingest_cached_share"] =
        from_cache + computed > 0 ? double(from_cache) / double(from_cache + computed) : 0.0;
    std::cerr << "ingest " << first_s << " s, re-ingest " << again_s << " s, " << from_cache
              << " from cache, " << computed << " computed\n";
  } else {
    auto opened = (*engine)->GetCollection("scifact");
    if (!opened.ok()) Die(opened.status().ToString());
    coll = *opened;
  }

  const uint64_t seed = phase == "full" ? 1 : 2;
  const auto log = MakeLog(queries, requests, zipf_s, seed);
  const size_t warmup = phase == "full" ? requests / 10 : 0;
  Replay replay = Run(*coll, &embedder, cache->get(), log, warmup);
  const double hit_rate = replay.requests ? double(replay.hits) / double(replay.requests) : 0.0;
  out["warmup_requests"] = warmup;
  out["hit_rate"] = hit_rate;
  out["memory_hits"] = replay.memory_hits;
  out["redis_hits"] = replay.redis_hits;
  out["misses"] = replay.miss_ms.size();
  out["memory_hit_p50_ms"] = Percentile(replay.memory_hit_ms, 0.5);
  out["memory_hit_p99_ms"] = Percentile(replay.memory_hit_ms, 0.99);
  out["miss_p50_ms"] = Percentile(replay.miss_ms, 0.5);
  out["miss_p99_ms"] = Percentile(replay.miss_ms, 0.99);
  if (phase == "shared") out["redis_hit_share"] = replay.hits ? double(replay.redis_hits) / replay.hits : 0.0;
  std::cerr << phase << ": hit rate " << hit_rate << " (" << replay.memory_hits << " memory, "
            << replay.redis_hits << " redis, " << replay.miss_ms.size() << " misses)\n";

  if (phase == "full") {
    // Redis hits: the memory layer dropped before each lookup of a logged query.
    std::vector<double> redis_ms, uncached_ms;
    if (!redis_url.empty()) {
      for (size_t i = 0; i < 1000 && i < log.size(); ++i) {
        (*cache)->ClearMemory();
        quarry::search::TextSearchOptions o;
        o.text = log[i];
        o.limit = 10;
        const auto t0 = Clock::now();
        auto r = quarry::search::SearchText(*coll, &embedder, nullptr, o, cache->get());
        const double ms = Ms(t0);
        if (r.ok() && r->cached) redis_ms.push_back(ms);
      }
    }
    // The same searches with no cache at all (the model embeds every query).
    for (size_t i = 0; i < 1000 && i < log.size(); ++i) {
      quarry::search::TextSearchOptions o;
      o.text = log[i];
      o.limit = 10;
      const auto t0 = Clock::now();
      auto r = quarry::search::SearchText(*coll, model->get(), nullptr, o, nullptr);
      if (!r.ok()) Die(r.status().ToString());
      uncached_ms.push_back(Ms(t0));
    }
    out["redis_hit_p50_ms"] = Percentile(redis_ms, 0.5);
    out["redis_hit_p99_ms"] = Percentile(redis_ms, 0.99);
    out["redis_hit_samples"] = redis_ms.size();
    out["no_cache_p50_ms"] = Percentile(uncached_ms, 0.5);
    out["no_cache_p99_ms"] = Percentile(uncached_ms, 0.99);
  }
  const auto stats = (*cache)->Stats();
  nlohmann::json kinds = nlohmann::json::object();
  for (size_t k = 0; k < quarry::cache::kKindCount; ++k) {
    const auto& s = stats.kinds[k];
    kinds[quarry::cache::KindName(static_cast<quarry::cache::Kind>(k))] = {
        {"memory_hits", s.memory_hits}, {"memory_misses", s.memory_misses},
        {"redis_hits", s.redis_hits},   {"redis_misses", s.redis_misses},
        {"hit_rate", stats.HitRate(static_cast<quarry::cache::Kind>(k))}};
  }
  out["cache"] = {{"kinds", kinds},
                  {"memory_bytes", stats.memory_bytes},
                  {"memory_items", stats.memory_items},
                  {"evictions", stats.evictions},
                  {"redis_errors", stats.redis_errors}};
  std::ofstream(out_path) << out.dump(2) << "\n";
  return 0;
}
