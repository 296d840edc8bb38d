// quarry_ann_bench: approximate nearest-neighbour search, Quarry's DenseIndex
// against hnswlib and FAISS (the anchors) measured in the same run, on the same
// vectors, with the same graph parameters (M, ef_construction).
//
// Per dataset (Fashion-MNIST 784-d L2; a synthetic 384-d cosine mixture):
//   1. base and query vectors are loaded or generated (bench/README.md gives
//      the generator exactly); exact top-k ground truth is computed by brute
//      force (ann_anchors.cc, independent of every engine) and cached under
//      --cache-dir, keyed by a hash of the vectors;
//   2. each engine/codec is built with --threads threads (timed: Create/Init,
//      Train, add), its memory is read from the engine's own accounting;
//   3. single-threaded queries, one at a time, for every ef in the sweep:
//      a warm-up pass, then --repeat timed passes (QPS of the best pass), and
//      recall@k of the returned ids (tie-aware: a hit is a returned id whose
//      exact distance is within the k-th true distance);
//   4. the index is saved and loaded again in a child process (this binary,
//      --load-child), which reports VmRSS after the load and after one query
//      pass at the largest ef; the parent checks the loaded index returns the
//      same recall.
// The summary gives, per dataset, each engine's QPS at the smallest ef that
// reaches recall@k >= 0.95 and the ratio Quarry / hnswlib.
//
// Usage: quarry_ann_bench [--quick] [--out FILE] [--cache-dir DIR]
//          [--fashion-dir DIR] [--datasets fashion-mnist,synthetic]
//          [--engines quarry,hnswlib,faiss]
//          [--quarry-codecs float32,int8:2,binary:4,binary:16]
//          [--faiss-codecs flat,sq8] [--efs 16,32,64,128,256,512] [--synthetic-n N]
//          [--synthetic-queries N] [--fashion-queries N] [--threads 2] [--repeat N]
//          [--m 16] [--ef-construction 128] [--k 10] [--train-sample N] [--seed N]
//          [--tmp-dir DIR] [--faiss-max-base 200000]
//          [--synthetic-{subspace,clusters,rank,sigma-cluster,sigma-iso} X]
// --quick: 100,000 synthetic vectors, 1,000 queries per dataset, one timed
// pass, engines quarry and hnswlib (FAISS only when --engines names it).
// Internal: quarry_ann_bench --load-child ... (step 4).
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "machine_info.h"
#include "ann_anchors.h"
#include "common/hash.h"
#include "index/dense/dense_index.h"
#include "index/dense/distance.h"
#include "quarry/status.h"

namespace {

namespace fs = std::filesystem;
using quarry::bench::CpuModel;
using quarry::bench::LoadAverage1m;
using quarry::bench::UtcDate;
namespace dense = quarry::index::dense;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;
using quarry::bench::AnchorMetric;

constexpr double kTargetRecall = 0.95;

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "quarry_ann_bench: " << message << "\n";
  std::exit(1);
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- options -------------------------------------------------------------------

// The synthetic set (bench/README.md documents the generator).
struct SyntheticSpec {
  size_t dim = 384;
  size_t subspace = 32;  // s: intrinsic dimension of the whole set
  size_t clusters = 1000;
  size_t rank = 16;  // r: per-cluster noise rank
  double sigma_cluster = 1.5;
  double sigma_iso = 0.25;
  static constexpr uint64_t kBasisStream = 1;
  static constexpr uint64_t kClusterStream = 2;
  static constexpr uint64_t kBaseTag = uint64_t{1} << 40;
  static constexpr uint64_t kQueryTag = uint64_t{2} << 40;
};

struct QuarryCodec {
  std::string name;  // float32 | int8 | binary
  float oversampling = 1.0f;
  bool rescore() const { return name != "float32"; }
  // Name in the results: "float32", "int8-os2", "binary-os16" (the codec and,
  // when it rescores, its oversampling), unique per configuration.
  std::string Label() const {
    if (!rescore()) return name;
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "-os%g", static_cast<double>(oversampling));
    return name + buffer;
  }
};

struct Options {
  bool quick = false;
  fs::path out;
  fs::path cache_dir = "build/ann-cache";
  fs::path fashion_dir = "/usr/share/datasets/fashion-mnist";
  fs::path tmp_dir;
  std::vector<std::string> datasets = {"fashion-mnist", "synthetic"};
  std::vector<std::string> engines = {"quarry", "hnswlib", "faiss"};
  std::vector<QuarryCodec> quarry_codecs = {
      {"float32", 1.0f}, {"int8", 2.0f}, {"binary", 4.0f}, {"binary", 16.0f}};
  std::vector<std::string> faiss_codecs = {"flat", "sq8"};
  std::vector<size_t> efs = {16, 32, 64, 128, 256, 512};
  size_t synthetic_n = 1000000;
  size_t synthetic_queries = 10000;
  size_t fashion_queries = 10000;
  int threads = 2;
  int repeat = 2;
  size_t m = 16;
  size_t ef_construction = 128;
  size_t k = 10;
  size_t train_sample = 20000;
  uint64_t seed = 42;
  // FAISS is skipped on larger base sets (see --faiss-max-base).
  size_t faiss_max_base = 200000;
  SyntheticSpec synthetic;
};

// Options of the --load-child mode.
struct ChildOptions {
  std::string engine, codec;
  fs::path index;
  fs::path queries;
  fs::path ids_out;
  size_t dim = 0, num_queries = 0, ef = 64, k = 10, max_elements = 0;
  AnchorMetric metric = AnchorMetric::kL2;
  float oversampling = 1.0f;
};

void Usage() {
  std::cerr
      << "usage: quarry_ann_bench [--quick] [--out FILE] [--cache-dir DIR] [--fashion-dir DIR]\n"
         "         [--datasets fashion-mnist,synthetic] [--engines quarry,hnswlib,faiss]\n"
         "         [--quarry-codecs float32,int8:2,binary:4,binary:16] [--faiss-codecs flat,sq8]\n"
         "         [--efs 16,32,64,128,256,512] [--synthetic-n N] [--synthetic-queries N]\n"
         "         [--fashion-queries N] [--threads 2] [--repeat 2] [--m 16]\n"
         "         [--ef-construction 128] [--k 10] [--train-sample N] [--seed N]\n"
         "         [--tmp-dir DIR] [--faiss-max-base 200000] [--synthetic-subspace 32] "
         "[--synthetic-clusters 1000]\n"
         "         [--synthetic-rank 16] [--synthetic-sigma-cluster 1.5]\n"
         "         [--synthetic-sigma-iso 0.25]\n";
  std::exit(2);
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

Options ParseArgs(int argc, char** argv) {
  Options options;
  bool synthetic_n_set = false, synthetic_queries_set = false, fashion_queries_set = false;
  bool repeat_set = false, engines_set = false;
  for (int arg_idx = 1; arg_idx < argc; ++arg_idx) {
    const std::string arg = argv[arg_idx];
    auto value = [&]() -> std::string {
      if (arg_idx + 1 >= argc) Usage();
      return argv[++arg_idx];
    };
    if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--out") {
      options.out = value();
    } else if (arg == "--cache-dir") {
      options.cache_dir = value();
    } else if (arg == "--fashion-dir") {
      options.fashion_dir = value();
    } else if (arg == "--tmp-dir") {
      options.tmp_dir = value();
    } else if (arg == "--datasets") {
      options.datasets = SplitList(value());
    } else if (arg == "--engines") {
      options.engines = SplitList(value());
      engines_set = true;
    } else if (arg == "--quarry-codecs") {
      options.quarry_codecs.clear();
      for (const std::string& item : SplitList(value())) {
        const size_t colon = item.find(':');
        QuarryCodec codec{item.substr(0, colon), 1.0f};
        if (colon != std::string::npos) codec.oversampling = std::stof(item.substr(colon + 1));
        options.quarry_codecs.push_back(codec);
      }
    } else if (arg == "--faiss-codecs") {
      options.faiss_codecs = SplitList(value());
    } else if (arg == "--efs") {
      options.efs.clear();
      for (const std::string& item : SplitList(value())) options.efs.push_back(std::stoul(item));
    } else if (arg == "--synthetic-n") {
      options.synthetic_n = std::stoul(value());
      synthetic_n_set = true;
    } else if (arg == "--synthetic-queries") {
      options.synthetic_queries = std::stoul(value());
      synthetic_queries_set = true;
    } else if (arg == "--fashion-queries") {
      options.fashion_queries = std::stoul(value());
      fashion_queries_set = true;
    } else if (arg == "--threads") {
      options.threads = std::stoi(value());
    } else if (arg == "--repeat") {
      options.repeat = std::stoi(value());
      repeat_set = true;
    } else if (arg == "--m") {
      options.m = std::stoul(value());
    } else if (arg == "--ef-construction") {
      options.ef_construction = std::stoul(value());
    } else if (arg == "--k") {
      options.k = std::stoul(value());
    } else if (arg == "--train-sample") {
      options.train_sample = std::stoul(value());
    } else if (arg == "--faiss-max-base") {
      options.faiss_max_base = std::stoul(value());
    } else if (arg == "--synthetic-subspace") {
      options.synthetic.subspace = std::stoul(value());
    } else if (arg == "--synthetic-clusters") {
      options.synthetic.clusters = std::stoul(value());
    } else if (arg == "--synthetic-rank") {
      options.synthetic.rank = std::stoul(value());
    } else if (arg == "--synthetic-sigma-cluster") {
      options.synthetic.sigma_cluster = std::stod(value());
    } else if (arg == "--synthetic-sigma-iso") {
      options.synthetic.sigma_iso = std::stod(value());
    } else if (arg == "--seed") {
      options.seed = std::stoull(value());
    } else {
      Usage();
    }
  }
  if (options.quick) {
    if (!synthetic_n_set) options.synthetic_n = 100000;
    if (!synthetic_queries_set) options.synthetic_queries = 1000;
    if (!fashion_queries_set) options.fashion_queries = 1000;
    if (!repeat_set) options.repeat = 1;
    // The Debian FAISS build (generic, SSE only) builds 4-8x slower than
    // hnswlib; with it the quick run would take three times as long.
    if (!engines_set) options.engines = {"quarry", "hnswlib"};
  }
  if (options.out.empty()) {
    options.out = options.quick ? "bench/results/ann-quick.json" : "bench/results/ann.json";
  }
  std::sort(options.efs.begin(), options.efs.end());
  if (options.efs.empty() || options.k == 0 || options.threads < 1 || options.repeat < 1 ||
      options.datasets.empty() || options.engines.empty()) {
    Usage();
  }
  for (const QuarryCodec& codec : options.quarry_codecs) {
    if (codec.name != "float32" && codec.name != "int8" && codec.name != "binary") Usage();
    if (!(codec.oversampling >= 1.0f)) Usage();
  }
  return options;
}

// ---- machine -------------------------------------------------------------------

std::string ProcField(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const size_t begin = line.find_first_not_of(" \t", colon + 1);
      return begin == std::string::npos ? "" : line.substr(begin);
    }
  }
  return "";
}

// VmRSS / RssAnon / RssFile of this process in KiB.
struct Rss {
  uint64_t total_kb = 0, anon_kb = 0, file_kb = 0;
};

Rss ReadRss() {
  auto kb = [](const std::string& text) -> uint64_t {
    return text.empty() ? 0 : std::stoull(text);  // "1234 kB"
  };
  return {kb(ProcField("/proc/self/status", "VmRSS")),
          kb(ProcField("/proc/self/status", "RssAnon")),
          kb(ProcField("/proc/self/status", "RssFile"))};
}

double Mb(uint64_t kb) { return static_cast<double>(kb) / 1024.0; }

// ---- datasets ------------------------------------------------------------------

struct Dataset {
  std::string name;
  size_t dim = 0;
  AnchorMetric anchor_metric = AnchorMetric::kL2;
  dense::Metric quarry_metric = dense::Metric::kL2;
  std::vector<float> base;     // n × dim
  std::vector<float> queries;  // num_queries × dim
  size_t n = 0, num_queries = 0;
  json description;
  double prepare_s = 0.0;
};

// Reads a gzip'd IDX3 file of uint8 images (magic 0x00000803, count, rows,
// cols, big-endian) into floats 0..255, at most max_rows rows.
std::vector<float> ReadIdxImages(const fs::path& path, size_t max_rows, size_t* dim) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) Die("cannot open " + path.string());
  auto read_exact = [&](void* buffer, size_t bytes) {
    const int got = gzread(file, buffer, static_cast<unsigned>(bytes));
    if (got < 0 || static_cast<size_t>(got) != bytes) {
      gzclose(file);
      Die(path.string() + ": truncated or not gzip");
    }
  };
  std::array<uint8_t, 16> header{};
  read_exact(header.data(), header.size());
  auto be32 = [&](size_t offset) {
    return (uint32_t{header[offset]} << 24) | (uint32_t{header[offset + 1]} << 16) |
           (uint32_t{header[offset + 2]} << 8) | uint32_t{header[offset + 3]};
  };
  if (be32(0) != 0x00000803) {
    gzclose(file);
    Die(path.string() + ": not an IDX3 uint8 file");
  }
  const size_t count = std::min<size_t>(be32(4), max_rows);
  *dim = size_t{be32(8)} * be32(12);
  std::vector<uint8_t> pixels(count * *dim);
  read_exact(pixels.data(), pixels.size());
  gzclose(file);
  return std::vector<float>(pixels.begin(), pixels.end());
}

Dataset LoadFashionMnist(const Options& options) {
  const Clock::time_point start = Clock::now();
  Dataset dataset;
  dataset.name = "fashion-mnist";
  dataset.anchor_metric = AnchorMetric::kL2;
  dataset.quarry_metric = dense::Metric::kL2;
  size_t base_dim = 0, query_dim = 0;
  dataset.base =
      ReadIdxImages(options.fashion_dir / "train-images-idx3-ubyte.gz", SIZE_MAX, &base_dim);
  dataset.queries = ReadIdxImages(options.fashion_dir / "t10k-images-idx3-ubyte.gz",
                                  options.fashion_queries, &query_dim);
  if (base_dim != query_dim || base_dim == 0) Die("fashion-mnist: dimension mismatch");
  dataset.dim = base_dim;
  dataset.n = dataset.base.size() / dataset.dim;
  dataset.num_queries = dataset.queries.size() / dataset.dim;
  dataset.description = {
      {"source", (options.fashion_dir / "{train,t10k}-images-idx3-ubyte.gz").string()},
      {"vectors", "raw pixels as floats 0..255, no normalisation"},
      {"base", "train images, all"},
      {"queries", "the first num_queries t10k images"}};
  dataset.prepare_s = SecondsSince(start);
  return dataset;
}

// ---- synthetic generator (bench/README.md documents it; keep them in step) --------

// SplitMix64 (Steele, Lea, Flood 2014), one independent stream per purpose and
// per point so that generation is parallel and order-free.
class Stream {
 public:
  Stream(uint64_t seed, uint64_t stream_id)
      : state_(quarry::Mix64(seed ^ quarry::Mix64(stream_id))) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1].
  double Uniform() { return static_cast<double>((Next() >> 11) + 1) * 0x1.0p-53; }
  // Standard normal, Box–Muller; both values of a pair are used in turn.
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(Uniform()));
    const double angle = 2.0 * M_PI * Uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  uint64_t state_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

class SyntheticGenerator {
 public:
  SyntheticGenerator(const SyntheticSpec& spec, uint64_t seed) : spec_(spec), seed_(seed) {
    const size_t dim = spec.dim, sub = spec.subspace;
    // Basis U (dim × sub): Gaussian columns, drawn column by column, then
    // modified Gram–Schmidt in double.
    std::vector<double> basis(dim * sub);
    Stream basis_rng(seed, SyntheticSpec::kBasisStream);
    for (size_t col = 0; col < sub; ++col) {
      for (size_t row = 0; row < dim; ++row) basis[col * dim + row] = basis_rng.Normal();
    }
    for (size_t col = 0; col < sub; ++col) {
      double* v = &basis[col * dim];
      for (size_t prev = 0; prev < col; ++prev) {
        const double* u = &basis[prev * dim];
        double proj = 0.0;
        for (size_t row = 0; row < dim; ++row) proj += u[row] * v[row];
        for (size_t row = 0; row < dim; ++row) v[row] -= proj * u[row];
      }
      double norm = 0.0;
      for (size_t row = 0; row < dim; ++row) norm += v[row] * v[row];
      norm = std::sqrt(norm);
      for (size_t row = 0; row < dim; ++row) v[row] /= norm;
    }
    basis_.assign(basis.begin(), basis.end());
    // Per cluster: centre z_c ~ N(0, I_s), then W_c (s × r, row major) with
    // entries N(0, 1/r).
    Stream cluster_rng(seed, SyntheticSpec::kClusterStream);
    centres_.resize(spec.clusters * sub);
    maps_.resize(spec.clusters * sub * spec.rank);
    const double map_scale = 1.0 / std::sqrt(static_cast<double>(spec.rank));
    for (size_t cluster = 0; cluster < spec.clusters; ++cluster) {
      for (size_t idx = 0; idx < sub; ++idx) centres_[cluster * sub + idx] = cluster_rng.Normal();
      for (size_t idx = 0; idx < sub * spec.rank; ++idx) {
        maps_[cluster * sub * spec.rank + idx] = cluster_rng.Normal() * map_scale;
      }
    }
  }

  // Point `index` of the stream `tag` (base or query), written to out[dim].
  void Point(uint64_t tag, uint64_t index, float* out) const {
    const size_t dim = spec_.dim, sub = spec_.subspace, rank = spec_.rank;
    Stream rng(seed_, tag | index);
    const size_t cluster = rng.Next() % spec_.clusters;
    std::vector<double> g(rank), y(sub);
    for (double& value : g) value = rng.Normal();
    const double* centre = &centres_[cluster * sub];
    const double* map = &maps_[cluster * sub * rank];
    for (size_t idx = 0; idx < sub; ++idx) {
      double noise = 0.0;
      for (size_t r = 0; r < rank; ++r) noise += map[idx * rank + r] * g[r];
      y[idx] = centre[idx] + spec_.sigma_cluster * noise;
    }
    std::vector<double> x(dim, 0.0);
    for (size_t col = 0; col < sub; ++col) {
      const double* u = &basis_[col * dim];
      for (size_t row = 0; row < dim; ++row) x[row] += u[row] * y[col];
    }
    double norm = 0.0;
    for (size_t row = 0; row < dim; ++row) {
      x[row] += spec_.sigma_iso * rng.Normal();
      norm += x[row] * x[row];
    }
    norm = std::sqrt(norm);
    for (size_t row = 0; row < dim; ++row) out[row] = static_cast<float>(x[row] / norm);
  }

  void Fill(uint64_t tag, size_t count, int threads, std::vector<float>* out) const {
    out->assign(count * spec_.dim, 0.0f);
    std::atomic<size_t> next{0};
    constexpr size_t kChunk = 1024;
    auto work = [&] {
      for (size_t begin = next.fetch_add(kChunk); begin < count; begin = next.fetch_add(kChunk)) {
        const size_t end = std::min(count, begin + kChunk);
        for (size_t idx = begin; idx < end; ++idx) Point(tag, idx, out->data() + idx * spec_.dim);
      }
    };
    std::vector<std::thread> workers;
    for (int thread_idx = 1; thread_idx < threads; ++thread_idx) workers.emplace_back(work);
    work();
    for (std::thread& worker : workers) worker.join();
  }

 private:
  SyntheticSpec spec_;
  uint64_t seed_;
  std::vector<double> basis_, centres_, maps_;
};

Dataset MakeSynthetic(const Options& options) {
  const Clock::time_point start = Clock::now();
  const SyntheticSpec& spec = options.synthetic;
  Dataset dataset;
  dataset.name = "synthetic-cosine-384";
  dataset.dim = spec.dim;
  dataset.anchor_metric = AnchorMetric::kInnerProduct;
  dataset.quarry_metric = dense::Metric::kCosine;
  const SyntheticGenerator generator(spec, options.seed);
  generator.Fill(SyntheticSpec::kBaseTag, options.synthetic_n, options.threads, &dataset.base);
  generator.Fill(SyntheticSpec::kQueryTag, options.synthetic_queries, options.threads,
                 &dataset.queries);
  dataset.n = options.synthetic_n;
  dataset.num_queries = options.synthetic_queries;
  dataset.description = {
      {"generator", "mixture of low-rank Gaussian clusters in a random subspace (bench/README.md)"},
      {"dim", spec.dim},
      {"subspace_dim", spec.subspace},
      {"clusters", spec.clusters},
      {"cluster_noise_rank", spec.rank},
      {"sigma_cluster", spec.sigma_cluster},
      {"sigma_iso", spec.sigma_iso},
      {"seed", options.seed},
      {"normalised", true},
      {"queries", "fresh samples of the same distribution (own streams), not base points"}};
  dataset.prepare_s = SecondsSince(start);
  return dataset;
}

// ---- ground truth ----------------------------------------------------------------

struct GroundTruth {
  size_t k = 0;
  std::vector<uint32_t> ids;     // num_queries × k
  std::vector<float> distances;  // ExactDistance, ascending
  bool from_cache = false;
  double compute_s = 0.0;
};

GroundTruth LoadOrComputeGroundTruth(const Dataset& dataset, const Options& options) {
  const Clock::time_point start = Clock::now();
  const std::string_view base_bytes(reinterpret_cast<const char*>(dataset.base.data()),
                                    dataset.base.size() * sizeof(float));
  const std::string_view query_bytes(reinterpret_cast<const char*>(dataset.queries.data()),
                                     dataset.queries.size() * sizeof(float));
  const std::string params = dataset.name + "|" + std::to_string(dataset.n) + "|" +
                             std::to_string(dataset.num_queries) + "|" +
                             std::to_string(dataset.dim) + "|" + std::to_string(options.k) + "|" +
                             std::to_string(static_cast<int>(dataset.anchor_metric)) + "|gt-v1";
  const uint64_t key = quarry::Hash64(params) ^ quarry::Mix64(quarry::Hash64(base_bytes)) ^
                       quarry::Mix64(quarry::Hash64(query_bytes) + 1);
  char key_hex[17];
  std::snprintf(key_hex, sizeof(key_hex), "%016llx", static_cast<unsigned long long>(key));
  const fs::path path = options.cache_dir / ("gt-" + dataset.name + "-" + key_hex + ".bin");

  GroundTruth truth;
  truth.k = options.k;
  const size_t entries = dataset.num_queries * options.k;
  truth.ids.resize(entries);
  truth.distances.resize(entries);
  constexpr char kMagic[8] = {'Q', 'A', 'N', 'N', 'G', 'T', '0', '1'};
  {
    std::ifstream in(path, std::ios::binary);
    char magic[8];
    uint64_t stored_key = 0;
    if (in && in.read(magic, 8) && std::memcmp(magic, kMagic, 8) == 0 &&
        in.read(reinterpret_cast<char*>(&stored_key), 8) && stored_key == key &&
        in.read(reinterpret_cast<char*>(truth.ids.data()), entries * sizeof(uint32_t)) &&
        in.read(reinterpret_cast<char*>(truth.distances.data()), entries * sizeof(float))) {
      truth.from_cache = true;
      truth.compute_s = SecondsSince(start);
      return truth;
    }
  }
  std::cerr << "  ground truth: brute force over " << dataset.n << " x " << dataset.num_queries
            << " (" << options.threads << " threads)\n";
  quarry::bench::GroundTruth(dataset.base.data(), dataset.n, dataset.queries.data(),
                             dataset.num_queries, dataset.dim, dataset.anchor_metric, options.k,
                             options.threads, truth.ids.data(), truth.distances.data());
  truth.compute_s = SecondsSince(start);
  std::error_code error;
  fs::create_directories(options.cache_dir, error);
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  out.write(kMagic, 8);
  out.write(reinterpret_cast<const char*>(&key), 8);
  out.write(reinterpret_cast<const char*>(truth.ids.data()), entries * sizeof(uint32_t));
  out.write(reinterpret_cast<const char*>(truth.distances.data()), entries * sizeof(float));
  out.close();
  if (out) fs::rename(tmp, path, error);
  if (!out || error) std::cerr << "  (could not cache ground truth at " << path << ")\n";
  return truth;
}

// Tie-aware recall@k: a returned id counts when it is a distinct valid row whose
// exact distance is <= the k-th true distance (ann-benchmarks' convention, with
// no epsilon: GroundTruth and ExactDistance sum in the same order).
// Over the first num_queries queries (all when 0).
double RecallAtK(const Dataset& dataset, const GroundTruth& truth,
                 const std::vector<int64_t>& labels, size_t num_queries = 0) {
  if (num_queries == 0) num_queries = dataset.num_queries;
  const size_t k = truth.k;
  size_t hits = 0;
  std::vector<int64_t> seen;
  for (size_t query_idx = 0; query_idx < num_queries; ++query_idx) {
    const float threshold = truth.distances[query_idx * k + k - 1];
    const float* query = dataset.queries.data() + query_idx * dataset.dim;
    seen.clear();
    for (size_t rank = 0; rank < k; ++rank) {
      const int64_t label = labels[query_idx * k + rank];
      if (label < 0 || static_cast<size_t>(label) >= dataset.n) continue;
      if (std::find(seen.begin(), seen.end(), label) != seen.end()) continue;
      seen.push_back(label);
      const float distance = quarry::bench::ExactDistance(
          query, dataset.base.data() + static_cast<size_t>(label) * dataset.dim, dataset.dim,
          dataset.anchor_metric);
      if (distance <= threshold) ++hits;
    }
  }
  return static_cast<double>(hits) / static_cast<double>(num_queries * k);
}

// ---- engines under test ------------------------------------------------------------

// One engine + codec, uniform for the sweep.
class Engine {
 public:
  virtual ~Engine() = default;
  // k labels per query into labels (k entries). ef as in the sweep.
  virtual void Search(const float* query, size_t ef, size_t k, int64_t* labels) = 0;
  // The ef the graph walk really used (Quarry raises ef to k · oversampling).
  virtual size_t EffectiveEf(size_t ef, size_t k) const { return std::max(ef, k); }
};

class QuarryEngine : public Engine {
 public:
  QuarryEngine(std::unique_ptr<dense::DenseIndex> index, QuarryCodec codec)
      : index_(std::move(index)), codec_(std::move(codec)) {}
  void Search(const float* query, size_t ef, size_t k, int64_t* labels) override {
    dense::DenseSearchParams params;
    params.k = k;
    params.ef = ef;
    params.rescore = codec_.rescore();
    params.oversampling = codec_.oversampling;
    auto hits = index_->Search(std::span<const float>(query, index_->options().dim), params);
    if (!hits.ok()) Die("quarry Search: " + hits.status().ToString());
    std::fill(labels, labels + k, -1);
    for (size_t rank = 0; rank < hits->size() && rank < k; ++rank) {
      labels[rank] = static_cast<int64_t>((*hits)[rank].id);
    }
  }
  size_t EffectiveEf(size_t ef, size_t k) const override {
    const size_t fetch =
        codec_.name == "float32"
            ? k
            : static_cast<size_t>(std::ceil(static_cast<double>(k) * codec_.oversampling));
    return std::max({ef, k, fetch});
  }
  dense::DenseIndex& index() { return *index_; }

 private:
  std::unique_ptr<dense::DenseIndex> index_;
  QuarryCodec codec_;
};

class AnchorEngine : public Engine {
 public:
  explicit AnchorEngine(std::unique_ptr<quarry::bench::AnnAnchor> anchor)
      : anchor_(std::move(anchor)) {}
  void Search(const float* query, size_t ef, size_t k, int64_t* labels) override {
    if (ef != current_ef_) {
      anchor_->SetEf(std::max(ef, k));
      current_ef_ = ef;
    }
    anchor_->Search(query, k, labels);
  }
  quarry::bench::AnnAnchor& anchor() { return *anchor_; }

 private:
  std::unique_ptr<quarry::bench::AnnAnchor> anchor_;
  size_t current_ef_ = 0;
};

dense::Quantization QuantizationOf(const std::string& name) {
  if (name == "int8") return dense::Quantization::kInt8;
  if (name == "binary") return dense::Quantization::kBinary;
  return dense::Quantization::kFloat32;
}

std::string MetricArg(AnchorMetric metric) { return metric == AnchorMetric::kL2 ? "l2" : "ip"; }

// Runs all queries once at `ef`; returns seconds, fills labels.
double QueryPass(Engine& engine, const Dataset& dataset, size_t ef, size_t k,
                 std::vector<int64_t>* labels) {
  labels->assign(dataset.num_queries * k, -1);
  const Clock::time_point start = Clock::now();
  for (size_t query_idx = 0; query_idx < dataset.num_queries; ++query_idx) {
    engine.Search(dataset.queries.data() + query_idx * dataset.dim, ef, k,
                  labels->data() + query_idx * k);
  }
  return SecondsSince(start);
}

// ---- child process: load a saved index, report RSS ---------------------------------

std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::vector<float> ReadFloats(const fs::path& path, size_t count) {
  std::vector<float> values(count);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(values.data()), count * sizeof(float))) {
    Die("cannot read " + path.string());
  }
  return values;
}

void WriteBytes(const fs::path& path, const void* data, size_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) Die("cannot write " + path.string());
}

int RunChild(const ChildOptions& child) {
  const std::vector<float> queries = ReadFloats(child.queries, child.num_queries * child.dim);
  const Rss before = ReadRss();
  const Clock::time_point start = Clock::now();
  std::unique_ptr<Engine> engine;
  if (child.engine == "quarry") {
    uint64_t seq = 0;
    auto loaded = dense::DenseIndex::Load(child.index, &seq);
    if (!loaded.ok()) Die("quarry Load: " + loaded.status().ToString());
    engine = std::make_unique<QuarryEngine>(std::move(loaded).value(),
                                            QuarryCodec{child.codec, child.oversampling});
  } else {
    quarry::bench::AnchorSpec spec;
    spec.engine = child.engine;
    spec.codec = child.codec;
    spec.dim = child.dim;
    spec.metric = child.metric;
    spec.max_elements = child.max_elements;
    std::string error;
    auto anchor = quarry::bench::LoadAnchor(spec, child.index.string(), &error);
    if (anchor == nullptr) Die(error);
    engine = std::make_unique<AnchorEngine>(std::move(anchor));
  }
  const double load_s = SecondsSince(start);
  const Rss loaded = ReadRss();
  std::vector<int64_t> labels(child.num_queries * child.k, -1);
  for (size_t query_idx = 0; query_idx < child.num_queries; ++query_idx) {
    engine->Search(queries.data() + query_idx * child.dim, child.ef, child.k,
                   labels.data() + query_idx * child.k);
  }
  const Rss after = ReadRss();
  WriteBytes(child.ids_out, labels.data(), labels.size() * sizeof(int64_t));
  json report = {{"load_s", load_s},
                 {"rss_before_kb", before.total_kb},
                 {"rss_loaded_kb", loaded.total_kb},
                 {"rss_loaded_anon_kb", loaded.anon_kb},
                 {"rss_loaded_file_kb", loaded.file_kb},
                 {"rss_after_queries_kb", after.total_kb},
                 {"rss_after_queries_anon_kb", after.anon_kb},
                 {"rss_after_queries_file_kb", after.file_kb}};
  std::cout << report.dump() << "\n";
  return 0;
}

ChildOptions ParseChildArgs(int argc, char** argv) {
  ChildOptions child;
  for (int arg_idx = 2; arg_idx < argc; ++arg_idx) {
    const std::string arg = argv[arg_idx];
    auto value = [&]() -> std::string {
      if (arg_idx + 1 >= argc) Usage();
      return argv[++arg_idx];
    };
    if (arg == "--engine") {
      child.engine = value();
    } else if (arg == "--codec") {
      child.codec = value();
    } else if (arg == "--index") {
      child.index = value();
    } else if (arg == "--queries") {
      child.queries = value();
    } else if (arg == "--ids-out") {
      child.ids_out = value();
    } else if (arg == "--dim") {
      child.dim = std::stoul(value());
    } else if (arg == "--num-queries") {
      child.num_queries = std::stoul(value());
    } else if (arg == "--ef") {
      child.ef = std::stoul(value());
    } else if (arg == "--k") {
      child.k = std::stoul(value());
    } else if (arg == "--max-elements") {
      child.max_elements = std::stoul(value());
    } else if (arg == "--oversampling") {
      child.oversampling = std::stof(value());
    } else if (arg == "--metric") {
      child.metric = value() == "l2" ? AnchorMetric::kL2 : AnchorMetric::kInnerProduct;
    } else {
      Usage();
    }
  }
  if (child.engine.empty() || child.index.empty() || child.dim == 0) Usage();
  return child;
}

// ---- one engine/codec on one dataset ---------------------------------------------

struct ConfigResult {
  std::string engine, codec;
  json build;              // build_s, memory, child report...
  std::vector<json> rows;  // one per ef
};

class TempDir {
 public:
  explicit TempDir(const fs::path& parent) {
    const fs::path base = parent.empty() ? fs::temp_directory_path() : parent;
    std::error_code error;
    fs::create_directories(base, error);
    std::string pattern = (base / "quarry-ann-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed under " + base.string());
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

uint64_t PathBytes(const fs::path& path) {
  std::error_code error;
  if (fs::is_regular_file(path, error)) return fs::file_size(path, error);
  uint64_t bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(path, error)) {
    if (entry.is_regular_file(error)) bytes += entry.file_size(error);
  }
  return bytes;
}

class Runner {
 public:
  Runner(const Options& options, const Dataset& dataset, const GroundTruth& truth,
         const fs::path& work_dir)
      : options_(options), dataset_(dataset), truth_(truth), work_dir_(work_dir) {
    queries_file_ = work_dir_ / "queries.f32";
    WriteBytes(queries_file_, dataset_.queries.data(), dataset_.queries.size() * sizeof(float));
    const size_t sample_rows = std::min(options_.train_sample, dataset_.n);
    sample_ = std::span<const float>(dataset_.base.data(), sample_rows * dataset_.dim);
  }

  ConfigResult RunQuarry(const QuarryCodec& codec) {
    ConfigResult result{"quarry", codec.Label(), json::object(), {}};
    dense::DenseIndexOptions index_options;
    index_options.dim = dataset_.dim;
    index_options.metric = dataset_.quarry_metric;
    index_options.quantization = QuantizationOf(codec.name);
    index_options.hnsw.m = static_cast<uint32_t>(options_.m);
    index_options.hnsw.ef_construction = static_cast<uint32_t>(options_.ef_construction);
    index_options.hnsw.seed = options_.seed;

    const Rss rss_before = ReadRss();
    const Clock::time_point start = Clock::now();
    auto created = dense::DenseIndex::Create(index_options);
    if (!created.ok()) Die("quarry Create: " + created.status().ToString());
    std::unique_ptr<dense::DenseIndex> index = std::move(created).value();
    quarry::Status status = index->Train(sample_);
    if (!status.ok()) Die("quarry Train: " + status.ToString());
    std::vector<uint64_t> ids(dataset_.n);
    for (size_t row = 0; row < dataset_.n; ++row) ids[row] = row;
    status = index->AddBatch(ids, dataset_.base, static_cast<size_t>(options_.threads));
    if (!status.ok()) Die("quarry AddBatch: " + status.ToString());
    const double build_s = SecondsSince(start);
    const Rss rss_built = ReadRss();
    const dense::DenseIndexStats stats = index->Stats();
    if (stats.vectors != dataset_.n) {
      Die("quarry: Stats().vectors = " + std::to_string(stats.vectors) + ", expected " +
          std::to_string(dataset_.n));
    }
    result.build = {{"build_s", build_s},
                    {"train_rows", codec.name == "int8" ? sample_.size() / dataset_.dim : 0},
                    {"oversampling", codec.oversampling},
                    {"rescore", codec.rescore()},
                    {"memory_bytes", stats.memory_bytes},
                    {"code_bytes", stats.code_bytes},
                    {"graph_bytes", stats.graph_bytes},
                    {"original_bytes", stats.original_bytes},
                    {"bytes_per_vector", static_cast<double>(stats.memory_bytes) / dataset_.n},
                    {"rss_build_delta_mb", Mb(rss_built.total_kb) - Mb(rss_before.total_kb)}};

    // Exact search (the reference path) on a few queries: must reach recall 1.
    {
      const size_t checked = std::min<size_t>(dataset_.num_queries, 100);
      std::vector<int64_t> labels(dataset_.num_queries * options_.k, -1);
      dense::DenseSearchParams params;
      params.k = options_.k;
      params.exact = true;
      const Clock::time_point exact_start = Clock::now();
      for (size_t query_idx = 0; query_idx < checked; ++query_idx) {
        auto hits =
            index->Search(std::span<const float>(dataset_.queries.data() + query_idx * dataset_.dim,
                                                 dataset_.dim),
                          params);
        if (!hits.ok()) Die("quarry exact Search: " + hits.status().ToString());
        for (size_t rank = 0; rank < hits->size() && rank < options_.k; ++rank) {
          labels[query_idx * options_.k + rank] = static_cast<int64_t>((*hits)[rank].id);
        }
      }
      const double exact_s = SecondsSince(exact_start);
      result.build["exact_check"] = {{"queries", checked},
                                     {"recall_at_10", RecallAtK(dataset_, truth_, labels, checked)},
                                     {"qps_1t", checked / exact_s}};
    }

    QuarryEngine engine(std::move(index), codec);
    Sweep(engine, &result);
    const fs::path dir = work_dir_ / ("quarry-" + codec.Label());
    status = engine.index().Save(dir, 1);
    if (!status.ok()) Die("quarry Save: " + status.ToString());
    result.build["disk_bytes"] = PathBytes(dir);
    {
      QuarryEngine release = std::move(engine);  // free before the child runs
    }
    ChildLoad("quarry", codec.name, dir, codec.oversampling, &result);
    fs::remove_all(dir);
    return result;
  }

  ConfigResult RunAnchor(const std::string& engine_name, const std::string& codec) {
    ConfigResult result{engine_name, codec, json::object(), {}};
    quarry::bench::AnchorSpec spec;
    spec.engine = engine_name;
    spec.codec = codec;
    spec.dim = dataset_.dim;
    spec.metric = dataset_.anchor_metric;
    spec.m = options_.m;
    spec.ef_construction = options_.ef_construction;
    spec.seed = options_.seed;
    spec.max_elements = dataset_.n;
    const Rss rss_before = ReadRss();
    const Clock::time_point start = Clock::now();
    std::string error;
    auto anchor = quarry::bench::CreateAnchor(spec, &error);
    if (anchor == nullptr) Die(error);
    error = anchor->Train(sample_.data(), sample_.size() / dataset_.dim);
    if (!error.empty()) Die(error);
    error = anchor->Add(dataset_.base.data(), dataset_.n, 0, options_.threads);
    if (!error.empty()) Die(error);
    const double build_s = SecondsSince(start);
    const Rss rss_built = ReadRss();
    const uint64_t memory = anchor->MemoryBytes();
    result.build = {{"build_s", build_s},
                    {"train_rows", codec == "sq8" ? sample_.size() / dataset_.dim : 0},
                    {"memory_bytes", memory},
                    {"bytes_per_vector", static_cast<double>(memory) / dataset_.n},
                    {"rss_build_delta_mb", Mb(rss_built.total_kb) - Mb(rss_before.total_kb)}};
    AnchorEngine engine(std::move(anchor));
    Sweep(engine, &result);
    const fs::path file = work_dir_ / (engine_name + "-" + codec + ".index");
    error = engine.anchor().Save(file.string());
    if (!error.empty()) Die(error);
    result.build["disk_bytes"] = PathBytes(file);
    { AnchorEngine release = std::move(engine); }
    ChildLoad(engine_name, codec, file, 1.0f, &result);
    fs::remove(file);
    return result;
  }

 private:
  void Sweep(Engine& engine, ConfigResult* result) {
    std::vector<int64_t> labels;
    // Warm-up: one pass at the middle ef (page faults, caches, lazy init).
    QueryPass(engine, dataset_, options_.efs[options_.efs.size() / 2], options_.k, &labels);
    for (size_t ef : options_.efs) {
      double best_s = 0.0;
      for (int pass = 0; pass < options_.repeat; ++pass) {
        const double seconds = QueryPass(engine, dataset_, ef, options_.k, &labels);
        if (pass == 0 || seconds < best_s) best_s = seconds;
      }
      const double recall = RecallAtK(dataset_, truth_, labels);
      if (ef == options_.efs.back()) last_recall_ = recall;
      json row = {{"engine", result->engine},
                  {"codec", result->codec},
                  {"dataset", dataset_.name},
                  {"ef", ef},
                  {"ef_effective", engine.EffectiveEf(ef, options_.k)},
                  {"recall_at_10", recall},
                  {"qps_1t", static_cast<double>(dataset_.num_queries) / best_s},
                  {"latency_mean_us", best_s * 1e6 / static_cast<double>(dataset_.num_queries)}};
      std::cerr << "    " << result->engine << "/" << result->codec << " ef=" << ef
                << " recall=" << recall << " qps=" << row["qps_1t"].get<double>() << "\n";
      result->rows.push_back(std::move(row));
    }
  }

  void ChildLoad(const std::string& engine, const std::string& codec, const fs::path& index,
                 float oversampling, ConfigResult* result) {
    const fs::path ids_file = work_dir_ / "child-ids.bin";
    // This very binary, even if the file was replaced since it started.
    const std::string exe = "/proc/" + std::to_string(getpid()) + "/exe";
    const size_t ef = options_.efs.back();
    std::ostringstream command;
    command << ShellQuote(exe) << " --load-child --engine " << engine << " --codec " << codec
            << " --index " << ShellQuote(index.string()) << " --queries "
            << ShellQuote(queries_file_.string()) << " --ids-out " << ShellQuote(ids_file.string())
            << " --dim " << dataset_.dim << " --num-queries " << dataset_.num_queries << " --ef "
            << ef << " --k " << options_.k << " --max-elements " << dataset_.n << " --oversampling "
            << oversampling << " --metric " << MetricArg(dataset_.anchor_metric);
    FILE* pipe = popen(command.str().c_str(), "r");
    if (pipe == nullptr) Die("popen failed");
    std::string output;
    char buffer[4096];
    size_t got;
    while ((got = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, got);
    const int status = pclose(pipe);
    if (status != 0) Die("child load failed (" + engine + "/" + result->codec + "): " + output);
    const json report = json::parse(output);
    std::vector<int64_t> labels(dataset_.num_queries * options_.k);
    {
      std::ifstream in(ids_file, std::ios::binary);
      if (!in.read(reinterpret_cast<char*>(labels.data()), labels.size() * sizeof(int64_t))) {
        Die("child ids missing");
      }
    }
    fs::remove(ids_file);
    const double loaded_recall = RecallAtK(dataset_, truth_, labels);
    const uint64_t before_kb = report["rss_before_kb"].get<uint64_t>();
    const uint64_t loaded_kb = report["rss_loaded_kb"].get<uint64_t>();
    const uint64_t after_kb = report["rss_after_queries_kb"].get<uint64_t>();
    json& build = result->build;
    build["load_s"] = report["load_s"];
    build["rss_process_base_mb"] = Mb(before_kb);
    build["rss_loaded_mb"] = Mb(loaded_kb);
    build["rss_loaded_anon_mb"] = Mb(report["rss_loaded_anon_kb"].get<uint64_t>());
    build["rss_loaded_file_mb"] = Mb(report["rss_loaded_file_kb"].get<uint64_t>());
    build["rss_after_queries_mb"] = Mb(after_kb);
    build["rss_after_queries_file_mb"] = Mb(report["rss_after_queries_file_kb"].get<uint64_t>());
    build["rss_delta_bytes_per_vector"] =
        static_cast<double>(loaded_kb - std::min(loaded_kb, before_kb)) * 1024.0 / dataset_.n;
    build["rss_delta_after_queries_bytes_per_vector"] =
        static_cast<double>(after_kb - std::min(after_kb, before_kb)) * 1024.0 / dataset_.n;
    build["loaded_check"] = {{"ef", ef},
                             {"recall_at_10", loaded_recall},
                             {"recall_in_process", last_recall_},
                             {"same_recall", std::fabs(loaded_recall - last_recall_) < 1e-9}};
    std::cerr << "    " << engine << "/" << result->codec << " loaded: rss " << Mb(loaded_kb)
              << " MB (+" << Mb(loaded_kb - std::min(loaded_kb, before_kb)) << "), after queries "
              << Mb(after_kb) << " MB, recall " << loaded_recall << " (in process " << last_recall_
              << ")\n";
  }

  const Options& options_;
  const Dataset& dataset_;
  const GroundTruth& truth_;
  fs::path work_dir_;
  fs::path queries_file_;
  std::span<const float> sample_;
  double last_recall_ = 0.0;
};

// ---- summary ----------------------------------------------------------------------

json Summarize(const std::string& dataset, const std::vector<ConfigResult>& configs) {
  json engines = json::object();
  std::map<std::string, std::optional<double>> qps_at_target;
  for (const ConfigResult& config : configs) {
    const std::string key = config.engine + "/" + config.codec;
    json entry = nullptr;
    for (const json& row : config.rows) {  // rows are in ascending ef
      if (row["recall_at_10"].get<double>() >= kTargetRecall) {
        entry = {{"ef", row["ef"]},
                 {"ef_effective", row["ef_effective"]},
                 {"recall_at_10", row["recall_at_10"]},
                 {"qps_1t", row["qps_1t"]}};
        qps_at_target[key] = row["qps_1t"].get<double>();
        break;
      }
    }
    if (entry.is_null()) {
      double max_recall = 0.0;
      for (const json& row : config.rows) {
        max_recall = std::max(max_recall, row["recall_at_10"].get<double>());
      }
      entry = {{"ef", nullptr},
               {"qps_1t", nullptr},
               {"max_recall_at_10", max_recall},
               {"note", "recall 0.95 not reached in the sweep"}};
      qps_at_target[key] = std::nullopt;
    }
    engines[key] = entry;
  }
  // quarry/<codec> QPS over each anchor's, both at their own smallest ef
  // reaching the target; null when either never reaches it.
  json ratios = json::object();
  for (const auto& [key, qps] : qps_at_target) {
    if (key.rfind("quarry/", 0) != 0) continue;
    for (const auto& [anchor_key, anchor_qps] : qps_at_target) {
      if (anchor_key.rfind("quarry/", 0) == 0) continue;
      std::string anchor_name = anchor_key == "hnswlib/float32" ? "hnswlib" : anchor_key;
      std::replace(anchor_name.begin(), anchor_name.end(), '/', '_');
      const std::string name = "quarry_" + key.substr(7) + "_over_" + anchor_name;
      ratios[name] = (qps && anchor_qps) ? json(*qps / *anchor_qps) : json(nullptr);
    }
  }
  return {{"dataset", dataset},
          {"target_recall_at_10", kTargetRecall},
          {"qps_1t_at_target", engines},
          {"ratio", ratios}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--load-child") {
    return RunChild(ParseChildArgs(argc, argv));
  }
  const Options options = ParseArgs(argc, argv);
  const Clock::time_point run_start = Clock::now();
  const double load_before = LoadAverage1m();
  const std::string quarry_isa(dense::GetKernels().name);

  json results = json::array();
  json summary = json::array();
  json builds = json::array();
  json datasets = json::array();
  json skipped = json::array();
  TempDir work(options.tmp_dir);
  for (const std::string& name : options.datasets) {
    Dataset dataset;
    if (name == "fashion-mnist") {
      dataset = LoadFashionMnist(options);
    } else if (name == "synthetic") {
      dataset = MakeSynthetic(options);
    } else {
      Die("unknown dataset " + name);
    }
    std::cerr << dataset.name << ": " << dataset.n << " base, " << dataset.num_queries
              << " queries, dim " << dataset.dim << " (" << dataset.prepare_s << " s)\n";
    const GroundTruth truth = LoadOrComputeGroundTruth(dataset, options);
    std::cerr << "  ground truth " << (truth.from_cache ? "from cache" : "computed") << " ("
              << truth.compute_s << " s)\n";
    json description = dataset.description;
    description["name"] = dataset.name;
    description["base_vectors"] = dataset.n;
    description["queries"] = dataset.num_queries;
    description["dim"] = dataset.dim;
    description["metric"] = dataset.anchor_metric == AnchorMetric::kL2 ? "l2" : "cosine";
    description["prepare_s"] = dataset.prepare_s;
    description["ground_truth"] = {{"method", "brute force, ann_anchors.cc"},
                                   {"from_cache", truth.from_cache},
                                   {"seconds", truth.compute_s}};
    datasets.push_back(description);

    Runner runner(options, dataset, truth, work.path());
    std::vector<ConfigResult> configs;
    for (const std::string& engine : options.engines) {
      if (engine == "quarry") {
        for (const QuarryCodec& codec : options.quarry_codecs) {
          std::cerr << "  quarry/" << codec.Label() << "\n";
          configs.push_back(runner.RunQuarry(codec));
        }
      } else if (engine == "hnswlib") {
        std::cerr << "  hnswlib/float32\n";
        configs.push_back(runner.RunAnchor("hnswlib", "float32"));
      } else if (engine == "faiss" && dataset.n > options.faiss_max_base) {
        // Debian's generic FAISS build needs over an hour for 1M vectors here.
        for (const std::string& codec : options.faiss_codecs) {
          skipped.push_back({{"engine", "faiss"},
                             {"codec", codec},
                             {"dataset", dataset.name},
                             {"reason", "base set larger than --faiss-max-base " +
                                            std::to_string(options.faiss_max_base) +
                                            " (generic FAISS build: build time)"}});
        }
      } else if (engine == "faiss") {
        for (const std::string& codec : options.faiss_codecs) {
          std::cerr << "  faiss/" << codec << "\n";
          configs.push_back(runner.RunAnchor("faiss", codec));
        }
      } else {
        Die("unknown engine " + engine);
      }
      std::cerr << "  (" << SecondsSince(run_start) << " s so far)\n";
    }
    for (const ConfigResult& config : configs) {
      json build = {{"engine", config.engine}, {"codec", config.codec}, {"dataset", dataset.name}};
      build.update(config.build);
      builds.push_back(build);
      for (const json& row : config.rows) {
        json full = row;
        full["bytes_per_vector"] = config.build["bytes_per_vector"];
        full["build_s"] = config.build["build_s"];
        full["rss_loaded_mb"] = config.build["rss_loaded_mb"];
        results.push_back(full);
      }
    }
    summary.push_back(Summarize(dataset.name, configs));
  }

  json report;
  report["benchmark"] = "ann";
  report["machine"] = {{"cpu", CpuModel()},
                       {"cores", std::thread::hardware_concurrency()},
                       {"memory", ProcField("/proc/meminfo", "MemTotal")},
                       {"date", UtcDate()},
                       {"loadavg_1m_before", load_before},
                       {"loadavg_1m_after", LoadAverage1m()},
                       {"compiler", std::string("gcc ") + __VERSION__},
                       {"quarry_isa", quarry_isa},
                       {"anchors", quarry::bench::AnchorBuildInfo()}};
  json quarry_codecs = json::array();
  for (const QuarryCodec& codec : options.quarry_codecs) {
    quarry_codecs.push_back({{"codec", codec.name},
                             {"rescore", codec.rescore()},
                             {"oversampling", codec.oversampling}});
  }
  report["params"] = {{"quick", options.quick},
                      {"k", options.k},
                      {"m", options.m},
                      {"ef_construction", options.ef_construction},
                      {"ef_search", options.efs},
                      {"build_threads", options.threads},
                      {"query_threads", 1},
                      {"repeat", options.repeat},
                      {"train_sample_rows", options.train_sample},
                      {"seed", options.seed},
                      {"quarry_codecs", quarry_codecs},
                      {"faiss_codecs", options.faiss_codecs},
                      {"faiss_max_base", options.faiss_max_base},
                      {"recall", "tie-aware recall@k against brute force (bench/README.md)"},
                      {"qps", "queries one at a time, one thread, best of `repeat` passes"},
                      {"datasets", datasets}};
  report["results"] = results;
  report["builds"] = builds;
  report["skipped"] = skipped;
  report["summary"] = summary;
  report["total_s"] = SecondsSince(run_start);

  std::error_code error;
  if (options.out.has_parent_path()) fs::create_directories(options.out.parent_path(), error);
  std::ofstream out(options.out);
  out << report.dump(2) << "\n";
  if (!out) Die("cannot write " + options.out.string());
  std::cerr << "wrote " << options.out << " (" << SecondsSince(run_start) << " s)\n";
  return 0;
}
