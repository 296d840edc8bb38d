// End-to-end search latency at scale (bench/run_e2e.sh drives it).
//
// Phase "build": a collection of about --chunks chunks from the Linux kernel
// documentation (Debian linux-doc-6.1, ~3,200 HTML pages, ~57,000 chunks of
// 256 word pieces). Beyond the first pass over the corpus, each further pass
// adds every page again as a new document whose paragraphs are shuffled and
// whose sentences are rotated (seeded by pass and page), so the text keeps the
// corpus' vocabulary and lengths without duplicating chunks. Every chunk gets
// a 384-d vector from the bge-small-shaped model (int8) run on the chunk's
// first 32 tokens: real model outputs, at a tenth of the inference cost of a
// full chunk (a full-length embedding of a million chunks takes two hours
// here). Dense vector: int8 codes, HNSW M=16, ef_construction=128. Chunks
// whose first 32 tokens agree across passes get equal vectors: runs of
// hundreds of copies, as boilerplate gives in real corpora (they once made
// HNSW islands; see HnswGraph::SelectNeighbors).
//
// Phase "query": opens the collection in a fresh process and runs text
// queries (section headings of the corpus) end to end: tokenize and embed the
// query with the model (no cache), HNSW + BM25 prefetch, fusion, page of 10
// with chunk text. One query at a time for hybrid, dense and sparse; hybrid
// with 8 concurrent callers; hybrid with a cross-encoder (ms-marco-MiniLM-L6
// shape) reranking the top 20. RSS is read before opening the collection (the
// models loaded), after opening it, and after the queries. Each entry also
// has p50/p99 per stage (embed, dense, sparse, fuse, and the rest: chunk
// fetch and rerank).
//
// --cold 1 drops the collection's files from the page cache before opening
// it. --memory-limit-mb N moves the process, after loading the models, into a
// new memory cgroup of N MiB, so the collection's heap and the page cache it
// reads must fit in N (the machine's other memory cannot hide a miss).
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "embed/embedder.h"
#include "machine_info.h"
#include "quarry/engine.h"
#include "search/hybrid.h"
#include "text/loader.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "e2e_bench: " << what << "\n";
  std::exit(1);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * double(v.size() - 1) + 0.5))];
}

// A field of /proc/self/status in MiB ("VmRSS", "RssAnon", "RssFile").
double StatusMb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return 0;
}
double RssMb() { return StatusMb("VmRSS"); }

// Drops the page-cache pages of every file under `dir` (clean pages only,
// which is all a collection has once it is closed): the next open starts cold,
// as after a reboot.
void EvictPageCache(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Moves this process into a new memory cgroup limited to `mb` MiB. What the
// process allocated before stays charged where it was, so the limit covers
// what comes after: the collection's heap and the page cache it reads.
// This process's cgroup under a hierarchy: "memory" for cgroup v1's memory
// controller, "" for v2 ("0::/path" in /proc/self/cgroup).
std::string OwnCgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string list = line.substr(a + 1, b - a - 1);
    if (list == controller) return line.substr(b + 1);
  }
  return "/";
}

struct MemoryCgroup {
  std::filesystem::path dir, home;  // the new cgroup, and the one this process came from
  std::string peak;                 // its peak-usage file
};

// Returns the new cgroup, or dies.
MemoryCgroup JoinMemoryCgroup(uint64_t mb) {
  const std::string name = "quarry-e2e-" + std::to_string(::getpid());
  struct Layout {
    std::filesystem::path root;
    const char* controller;
    const char* limit;
    const char* peak;
  };
  const Layout layouts[] = {{"/sys/fs/cgroup/memory", "memory", "memory.limit_in_bytes",
                             "memory.max_usage_in_bytes"},
                            {"/sys/fs/cgroup", "", "memory.max", "memory.peak"},
                            {"/sys/fs/cgroup/unified", "", "memory.max", "memory.peak"}};
  for (const Layout& l : layouts) {
    std::error_code ec;
    if (!std::filesystem::exists(l.root / "cgroup.procs", ec)) continue;
    const std::filesystem::path home = l.root / OwnCgroup(l.controller).substr(1);
    const auto dir = home / name;
    std::filesystem::create_directory(dir, ec);
    if (ec || !std::filesystem::exists(dir / l.limit, ec)) {
      std::filesystem::remove(dir, ec);
      continue;
    }
    std::ofstream(dir / l.limit) << mb * 1024 * 1024;
    // cgroup v2: with swap the limit would push pages out instead of bounding
    // them (v1's memory.limit_in_bytes leaves swap to memsw, unset here).
    if (l.controller[0] == '\0') std::ofstream(dir / "memory.swap.max") << 0;
    std::ofstream(dir / "cgroup.procs") << ::getpid();
    std::ifstream procs(dir / "cgroup.procs");
    for (pid_t pid; procs >> pid;) {
      if (pid == ::getpid()) return {dir, home, l.peak};
    }
    std::filesystem::remove(dir, ec);
  }
  Die("cannot create a memory cgroup (needs a writable /sys/fs/cgroup with the memory controller)");
}

double ReadMb(const std::filesystem::path& file) {
  std::ifstream in(file);
  double bytes = 0;
  in >> bytes;
  return bytes / (1024.0 * 1024.0);
}

std::vector<quarry::Document> LoadCorpus(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".html") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<quarry::Document> docs;
  for (const auto& file : files) {
    quarry::text::LoadFileStats stats;
    (void)quarry::text::LoadFile(
        file,
        [&](quarry::Document&& d) {
          if (!d.text.empty()) docs.push_back(std::move(d));
          return quarry::Status::OK();
        },
        &stats);
  }
  return docs;
}

// Pass `pass` over page `d`: paragraphs shuffled, sentences rotated.
quarry::Document Variant(const quarry::Document& d, uint64_t pass, uint64_t index) {
  quarry::Document out;
  out.doc_id = "pass" + std::to_string(pass) + ":" + d.doc_id;
  out.source = d.source;
  out.title = d.title;
  std::mt19937_64 rng(pass * 1000003 + index);
  std::vector<std::string> paragraphs;
  size_t start = 0;
  while (start < d.text.size()) {
    size_t end = d.text.find("\n\n", start);
    if (end == std::string::npos) end = d.text.size();
    std::string p = d.text.substr(start, end - start);
    // Rotate its sentences.
    std::vector<std::string> sentences;
    size_t s0 = 0;
    for (size_t i = 0; i + 1 < p.size(); ++i) {
      if (p[i] == '.' && p[i + 1] == ' ') {
        sentences.push_back(p.substr(s0, i + 2 - s0));
        s0 = i + 2;
      }
    }
    sentences.push_back(p.substr(s0));
    if (sentences.size() > 1) {
      std::rotate(sentences.begin(), sentences.begin() + rng() % sentences.size(), sentences.end());
    }
    std::string joined;
    for (const auto& s : sentences) joined += s;
    if (!joined.empty()) paragraphs.push_back(std::move(joined));
    start = end + 2;
  }
  std::shuffle(paragraphs.begin(), paragraphs.end(), rng);
  for (const auto& p : paragraphs) {
    if (!out.text.empty()) out.text += "\n\n";
    out.text += p;
  }
  return out;
}

std::unique_ptr<quarry::embed::Embedder> OpenModel(const std::string& dir, size_t max_tokens) {
  quarry::embed::LocalModelOptions options;
  options.precision = quarry::model::Precision::kInt8;
  options.max_tokens = max_tokens;
  auto model = quarry::embed::OpenLocalEmbedder(dir, options);
  if (!model.ok()) Die(model.status().ToString());
  return std::move(model).value();
}

quarry::Engine* OpenEngine(const std::string& data, std::unique_ptr<quarry::Engine>* holder) {
  quarry::EngineOptions options;
  options.data_dir = data;
  options.map_size = 64ull << 30;
  auto engine = quarry::Engine::Open(options);
  if (!engine.ok()) Die(engine.status().ToString());
  *holder = std::move(engine).value();
  return holder->get();
}

int Build(const std::string& corpus, const std::string& data, const std::string& model_dir,
          uint64_t target_chunks) {
  auto docs = LoadCorpus(corpus);
  if (docs.empty()) Die("no HTML pages under " + corpus);
  auto model = OpenModel(model_dir, 32);
  quarry::search::EmbedderChunkAdapter adapter(model.get());
  std::unique_ptr<quarry::Engine> engine;
  OpenEngine(data, &engine);
  quarry::CollectionOptions options;
  quarry::DenseVectorConfig dense;
  dense.name = "text";
  dense.dim = model->dim();
  dense.quantization = quarry::VectorQuantization::kInt8;
  options.dense_vectors = {dense};
  auto coll = engine->GetOrCreateCollection("e2e", options);
  if (!coll.ok()) Die(coll.status().ToString());
  const auto t0 = Clock::now();
  auto last = t0;
  uint64_t chunks = 0, documents = 0;
  for (uint64_t pass = 0; chunks < target_chunks; ++pass) {
    for (size_t i = 0; i < docs.size() && chunks < target_chunks; i += 32) {
      std::vector<quarry::Document> batch;
      for (size_t j = i; j < std::min(docs.size(), i + 32); ++j) {
        batch.push_back(pass == 0 ? docs[j] : Variant(docs[j], pass, j));
      }
      auto stats = (*coll)->Upsert(std::move(batch), &adapter);
      if (!stats.ok()) Die(stats.status().ToString());
      chunks += stats->chunks_written;
      documents += stats->added;
      if (Ms(last) > 10000) {
        last = Clock::now();
        std::cerr << "build: " << chunks << " chunks, " << documents << " documents, "
                  << Ms(t0) / 1000 << " s\n";
      }
    }
  }
  if (auto st = (*coll)->Flush(); !st.ok()) Die(st.ToString());
  nlohmann::json out = {{"chunks", chunks}, {"documents", documents}, {"build_s", Ms(t0) / 1000}};
  std::ofstream(std::filesystem::path(data) / "build.json") << out.dump(2) << "\n";
  std::cerr << "built " << chunks << " chunks in " << Ms(t0) / 1000 << " s\n";
  return 0;
}

std::vector<std::string> Headings(const std::string& corpus, size_t n) {
  auto docs = LoadCorpus(corpus);
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& d : docs) {
    for (const auto& s : d.sections) {
      std::string heading = s.path.substr(s.path.rfind(" > ") == std::string::npos
                                              ? 0
                                              : s.path.rfind(" > ") + 3);
      if (heading.size() >= 8 && heading.size() <= 80 && seen.insert(heading).second) {
        out.push_back(heading);
      }
    }
  }
  std::mt19937_64 rng(42);
  std::shuffle(out.begin(), out.end(), rng);
  if (out.size() > n) out.resize(n);
  return out;
}

struct Run {
  std::string mode;
  int concurrency = 1;
  bool rerank = false;
  std::vector<double> ms;
  // Per query: embed, dense, sparse, fuse, rest (chunk fetch, rerank).
  std::vector<std::array<double, 5>> stages;
};

struct Timed {
  double ms;
  std::array<double, 5> stages;
};

int Query(const std::string& corpus, const std::string& data, const std::string& model_dir,
          const std::string& reranker_dir, size_t n_queries, const std::string& out_path,
          double ingest_docs_per_hour, bool cold, uint64_t memory_limit_mb) {
  const auto queries = Headings(corpus, n_queries);
  if (queries.empty()) Die("no headings found");
  auto model = OpenModel(model_dir, 0);
  std::unique_ptr<quarry::embed::Reranker> reranker;
  if (!reranker_dir.empty()) {
    quarry::embed::LocalModelOptions options;
    options.precision = quarry::model::Precision::kInt8;
    auto opened = quarry::embed::OpenLocalReranker(reranker_dir, options);
    if (!opened.ok()) Die(opened.status().ToString());
    reranker = std::move(opened).value();
  }
  const double rss_models = RssMb();
  const double anon_models = StatusMb("RssAnon");
  if (cold) EvictPageCache(data);
  MemoryCgroup cgroup;
  if (memory_limit_mb != 0) cgroup = JoinMemoryCgroup(memory_limit_mb);
  std::unique_ptr<quarry::Engine> engine;
  OpenEngine(data, &engine);
  const auto open_t0 = Clock::now();
  auto coll = engine->GetCollection("e2e");
  if (!coll.ok()) Die(coll.status().ToString());
  const double open_ms = Ms(open_t0);
  const double rss_open = RssMb();
  const quarry::CollectionInfo info = (*coll)->Info();

  auto one = [&](const std::string& text, quarry::search::Mode mode, bool rerank) {
    quarry::search::TextSearchOptions o;
    o.text = text;
    o.limit = 10;
    o.mode = mode;
    o.rerank = rerank ? quarry::search::RerankMode::kOn : quarry::search::RerankMode::kOff;
    const auto t0 = Clock::now();
    auto r = quarry::search::SearchText(**coll, model.get(), reranker.get(), o);
    if (!r.ok()) Die(r.status().ToString());
    const double ms = Ms(t0);
    const double rest = ms - r->embed_ms - r->dense_ms - r->sparse_ms - r->fuse_ms;
    return Timed{ms, {r->embed_ms, r->dense_ms, r->sparse_ms, r->fuse_ms, std::max(0.0, rest)}};
  };
  // Warm-up: page in the index and the model.
  for (size_t i = 0; i < std::min<size_t>(50, queries.size()); ++i) {
    one(queries[i], quarry::search::Mode::kHybrid, false);
  }
  std::vector<Run> runs;
  const std::pair<const char*, quarry::search::Mode> modes[] = {
      {"hybrid", quarry::search::Mode::kHybrid},
      {"dense", quarry::search::Mode::kDense},
      {"sparse", quarry::search::Mode::kSparse}};
  for (const auto& [name, mode] : modes) {
    Run run{name, 1, false, {}, {}};
    for (const auto& q : queries) {
      const Timed t = one(q, mode, false);
      run.ms.push_back(t.ms);
      run.stages.push_back(t.stages);
    }
    runs.push_back(std::move(run));
  }
  {  // 8 concurrent callers, hybrid
    Run run{"hybrid", 8, false, {}, {}};
    std::mutex mu;
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        std::vector<Timed> local;
        for (size_t i; (i = next.fetch_add(1)) < queries.size();) {
          local.push_back(one(queries[i], quarry::search::Mode::kHybrid, false));
        }
        std::lock_guard lock(mu);
        for (const Timed& t : local) {
          run.ms.push_back(t.ms);
          run.stages.push_back(t.stages);
        }
      });
    }
    for (auto& t : threads) t.join();
    runs.push_back(std::move(run));
  }
  if (reranker != nullptr) {
    Run run{"hybrid", 1, true, {}, {}};
    for (size_t i = 0; i < std::min<size_t>(200, queries.size()); ++i) {
      const Timed t = one(queries[i], quarry::search::Mode::kHybrid, true);
      run.ms.push_back(t.ms);
      run.stages.push_back(t.stages);
    }
    runs.push_back(std::move(run));
  }
  const double rss_after = RssMb();
  const double anon_after = StatusMb("RssAnon"), file_after = StatusMb("RssFile");
  const double cgroup_peak_mb = cgroup.dir.empty() ? 0 : ReadMb(cgroup.dir / cgroup.peak);
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& run : runs) {
    nlohmann::json stages = nlohmann::json::object();
    const char* stage_names[] = {"embed", "dense", "sparse", "fuse", "fetch_rerank"};
    for (size_t s = 0; s < 5; ++s) {
      std::vector<double> v;
      for (const auto& t : run.stages) v.push_back(t[s]);
      stages[stage_names[s]] = {{"p50_ms", Percentile(v, 0.5)}, {"p99_ms", Percentile(v, 0.99)}};
    }
    entries.push_back({{"n_chunks", info.chunks},
                       {"mode", run.mode},
                       {"rerank_top", run.rerank ? 20 : 0},
                       {"concurrency", run.concurrency},
                       {"queries", run.ms.size()},
                       {"p50_ms", Percentile(run.ms, 0.5)},
                       {"p99_ms", Percentile(run.ms, 0.99)},
                       {"rss_mb", rss_after - rss_models},
                       {"memory_limit_mb", memory_limit_mb},
                       {"cold_start", cold},
                       {"stages", stages},
                       {"ingest_docs_per_hour", ingest_docs_per_hour}});
    std::cerr << run.mode << (run.rerank ? "+rerank" : "") << " x" << run.concurrency
              << ": p50 " << Percentile(run.ms, 0.5) << " ms, p99 " << Percentile(run.ms, 0.99)
              << " ms\n";
  }
  nlohmann::json limit = nullptr;
  if (!cgroup.dir.empty()) {
    // The whole cgroup: the collection's heap plus the page cache it read.
    limit = {{"limit_mb", memory_limit_mb}, {"peak_mb", cgroup_peak_mb}};
    std::error_code ec;
    std::ofstream(cgroup.home / "cgroup.procs") << ::getpid();  // back out, then remove
    std::filesystem::remove(cgroup.dir, ec);
  }
  nlohmann::json out = {
      {"memory_limit", limit},
      {"machine", {{"cpu", quarry::bench::CpuModel()},
                   {"load_1m", quarry::bench::LoadAverage1m()},
                   {"date", quarry::bench::UtcDate()}}},
      {"collection", {{"chunks", info.chunks},
                      {"documents", info.documents},
                      {"terms", info.terms},
                      {"disk_bytes", info.disk_bytes},
                      {"bm25_memory_bytes", info.index_memory_bytes},
                      {"dense_memory_bytes",
                       info.dense_vectors.empty() ? 0 : info.dense_vectors[0].memory_bytes},
                      {"open_ms", open_ms}}},
      {"rss_mb", {{"models_loaded", rss_models},
                  {"collection_opened", rss_open},
                  {"after_queries", rss_after},
                  {"collection_after_queries", rss_after - rss_models},
                  // Anonymous memory (heap: indexes, models) vs mapped file
                  // pages (LMDB chunks, original vectors: page cache the
                  // kernel can reclaim) after the queries.
                  {"anon_after_queries", anon_after},
                  {"file_after_queries", file_after},
                  {"anon_at_models_loaded", anon_models}}},
      {"results", entries}};
  std::ofstream(out_path) << out.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string phase, corpus = "/usr/share/doc/linux-doc-6.1/html", data, model, reranker, out;
  uint64_t chunks = 100000, memory_limit_mb = 0;
  bool cold = false;
  size_t queries = 1000;
  double ingest_docs_per_hour = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--phase") phase = value;
    else if (flag == "--corpus") corpus = value;
    else if (flag == "--data") data = value;
    else if (flag == "--model") model = value;
    else if (flag == "--reranker") reranker = value;
    else if (flag == "--out") out = value;
    else if (flag == "--chunks") chunks = std::stoull(value);
    else if (flag == "--queries") queries = std::stoul(value);
    else if (flag == "--ingest-docs-per-hour") ingest_docs_per_hour = std::stod(value);
    else if (flag == "--cold") cold = value == "1";
    else if (flag == "--memory-limit-mb") memory_limit_mb = std::stoull(value);
    else Die("unknown flag " + flag);
  }
  if (data.empty() || model.empty()) Die("--data and --model are required");
  if (phase == "build") return Build(corpus, data, model, chunks);
  if (phase == "query") {
    if (out.empty()) Die("--out is required");
    return Query(corpus, data, model, reranker, queries, out, ingest_docs_per_hour, cold,
                 memory_limit_mb);
  }
  Die("--phase build|query");
}
