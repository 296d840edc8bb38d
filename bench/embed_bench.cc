// Encoder throughput: Quarry's model::Encoder on the three workloads of the
// embedding benchmark, and the workload files the anchors (ONNX Runtime,
// PyTorch: bench/embed/) run on the very same token ids.
//
//   quarry_embed_bench --model DIR --corpus DIR --workload ingest|query|rerank
//       [--precision fp32|int8|bf16] [--threads 2] [--n 1000] [--repeat 3]
//       [--write-workload FILE] [--peak]
//
// Workloads (token ids from the model's own tokenizer):
//   ingest  `--n` chunks of the corpus (HTML pages) as Quarry chunks them
//           (256-token budget), evenly spaced over all chunks, truncated to 256
//           tokens; Quarry runs them in token-budget batches without padding,
//           the anchors in length-sorted batches of 32 padded to each batch's
//           longest.
//   query   `--n` / 10 short queries of 8-16 tokens cut from chunk openings,
//           one at a time.
//   rerank  one query with 32 passages of about 200 tokens (a cross-encoder).
// Prints one JSON line: engine, precision, workload, n_items, tokens,
// seconds (median of --repeat passes), ms_per_item, gflops; with --peak also
// the machine's measured peak (FMA / VNNI loops on --threads threads) and the
// share of it achieved.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "machine_info.h"
#include "model/encoder.h"
#include "model/tokenizer.h"
#include "text/chunker.h"
#include "text/loader.h"

namespace {

using quarry::model::Encoder;
using quarry::model::EncoderInput;

struct Seq {
  std::vector<int32_t> ids, types;
};

struct Args {
  std::string model, corpus, workload = "ingest", precision = "fp32", write_workload;
  int threads = 2, n = 1000, repeat = 3;
  bool peak = false;
};

[[noreturn]] void Die(const std::string& msg) {
  std::cerr << "embed_bench: " << msg << "\n";
  std::exit(2);
}

std::vector<std::string> CorpusChunks(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".html") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  quarry::text::Chunker chunker;
  std::vector<std::string> chunks;
  for (const auto& f : files) {
    quarry::text::LoadFileStats stats;
    (void)quarry::text::LoadFile(
        f,
        [&](quarry::Document&& doc) {
          for (auto& c : chunker.Split(doc)) chunks.push_back(std::move(c.text));
          return quarry::Status::OK();
        },
        &stats);
  }
  return chunks;
}

// Peak FLOP/s of this machine on `threads` threads: 12 independent chains of
// one instruction (FMA, VNNI dot product, bf16 dot product) per thread, so
// throughput, not latency, bounds them. `ops` counts the flops (or int8 ops)
// of one instruction.
template <typename Body>
double Peak(int threads, double ops, Body body) {
  const long iters = 20'000'000;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  body(iters);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ops * 12 * static_cast<double>(iters) * threads / s;
}

template <typename V>
void Consume(const V* regs) {  // keeps the chains alive
  alignas(64) float lanes[16];
  float sink = 0;
  for (int i = 0; i < 12; ++i) {
    std::memcpy(lanes, &regs[i], 64);
    sink += lanes[0];
  }
  if (sink == 12345.0f) std::puts("");
}

__attribute__((target("avx512f"))) double PeakFp32(int threads) {
  return Peak(threads, 2.0 * 16, [](long iters) __attribute__((target("avx512f"))) {
    __m512 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iters; ++it) {
      for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
    }
    Consume(a);
  });
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) double PeakInt8(int threads) {
  return Peak(threads, 2.0 * 64, [](long iters) __attribute__((target("avx512f,avx512bw,avx512vnni"))) {
    __m512i a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_epi32(i);
    const __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(-1);
    for (long it = 0; it < iters; ++it) {
      for (int i = 0; i < 12; ++i) a[i] = _mm512_dpbusd_epi32(a[i], u, s);
    }
    Consume(a);
  });
}

__attribute__((target("avx512f,avx512bf16"))) double PeakBf16(int threads) {
  return Peak(threads, 2.0 * 32, [](long iters) __attribute__((target("avx512f,avx512bf16"))) {
    __m512 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
    const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));  // 1.0
    const __m512bh y = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3380));  // tiny
    for (long it = 0; it < iters; ++it) {
      for (int i = 0; i < 12; ++i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    }
    Consume(a);
  });
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(k + " needs a value");
      return argv[++i];
    };
    if (k == "--model") a.model = next();
    else if (k == "--corpus") a.corpus = next();
    else if (k == "--workload") a.workload = next();
    else if (k == "--precision") a.precision = next();
    else if (k == "--write-workload") a.write_workload = next();
    else if (k == "--threads") a.threads = std::stoi(next());
    else if (k == "--n") a.n = std::stoi(next());
    else if (k == "--repeat") a.repeat = std::stoi(next());
    else if (k == "--peak") a.peak = true;
    else Die("unknown argument " + k);
  }
  if (a.model.empty() || a.corpus.empty()) Die("--model and --corpus are required");
  auto precision = quarry::model::ParsePrecision(a.precision);
  if (!precision.ok()) Die(precision.status().ToString());
  auto tokenizer = quarry::model::Tokenizer::Load(a.model);
  if (!tokenizer.ok()) Die(tokenizer.status().ToString());
  auto encoder = Encoder::Load(a.model, {*precision, a.threads});
  if (!encoder.ok()) Die(encoder.status().ToString());

  const std::vector<std::string> chunks = CorpusChunks(a.corpus);
  if (chunks.size() < 64) Die("corpus yields only " + std::to_string(chunks.size()) + " chunks");
  std::vector<Seq> seqs;
  std::vector<std::vector<size_t>> anchor_batches;  // indices into seqs
  const auto& tok = **tokenizer;
  if (a.workload == "ingest") {
    const size_t n = std::min<size_t>(a.n, chunks.size());
    for (size_t i = 0; i < n; ++i) {
      auto e = tok.Encode(chunks[i * chunks.size() / n], 256);
      seqs.push_back({e.ids, e.type_ids});
    }
    std::vector<size_t> order(seqs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return seqs[x].ids.size() < seqs[y].ids.size(); });
    for (size_t i = 0; i < order.size(); i += 32) {
      anchor_batches.emplace_back(order.begin() + i,
                                  order.begin() + std::min(order.size(), i + 32));
    }
  } else if (a.workload == "query") {
    const size_t n = std::max(10, a.n / 10);
    for (size_t i = 0; i < n && i < chunks.size(); ++i) {
      const size_t want = 8 + i % 9;  // 8..16 tokens, special tokens included
      std::string text;
      std::string_view src = chunks[(i * 7919) % chunks.size()];
      size_t pos = 0;
      quarry::model::Encoding e;
      while (pos < src.size()) {
        size_t sp = src.find(' ', pos + 1);
        if (sp == std::string_view::npos) sp = src.size();
        std::string candidate(src.substr(0, sp));
        auto ce = tok.Encode(candidate, 512);
        if (ce.ids.size() > want) break;
        e = std::move(ce);
        pos = sp;
      }
      if (e.ids.size() < 4) e = tok.Encode(src, want);
      seqs.push_back({e.ids, e.type_ids});
      anchor_batches.push_back({seqs.size() - 1});
    }
  } else if (a.workload == "rerank") {
    std::string query = "how do I configure the kernel memory allocator for huge pages";
    std::vector<size_t> batch;
    for (size_t i = 0; i < chunks.size() && batch.size() < 32; i += 3) {
      auto plain = tok.Encode(chunks[i], 512);
      if (plain.ids.size() < 190) continue;
      auto e = tok.EncodePair(query, chunks[i], 200 + tok.Encode(query, 64).ids.size(),
                              quarry::model::Truncation::kOnlySecond);
      seqs.push_back({e.ids, e.type_ids});
      batch.push_back(seqs.size() - 1);
    }
    anchor_batches.push_back(batch);
  } else {
    Die("unknown workload " + a.workload);
  }

  if (!a.write_workload.empty()) {
    nlohmann::json w;
    w["model_dir"] = std::filesystem::absolute(a.model).string();
    w["workload"] = a.workload;
    w["batches"] = nlohmann::json::array();
    for (const auto& b : anchor_batches) {
      nlohmann::json ids = nlohmann::json::array(), types = nlohmann::json::array();
      for (size_t i : b) {
        ids.push_back(seqs[i].ids);
        types.push_back(seqs[i].types);
      }
      w["batches"].push_back({{"input_ids", ids}, {"token_type_ids", types}});
    }
    std::ofstream(a.write_workload) << w.dump();
  }

  // Quarry's batches: the anchors' batches for query and rerank; for ingest,
  // token-budget batches in corpus order (no padding, so no sorting needed).
  std::vector<std::vector<size_t>> batches;
  if (a.workload == "ingest") {
    std::vector<size_t> cur;
    size_t tokens = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (!cur.empty() && tokens + seqs[i].ids.size() > 8192) {
        batches.push_back(cur);
        cur.clear();
        tokens = 0;
      }
      cur.push_back(i);
      tokens += seqs[i].ids.size();
    }
    if (!cur.empty()) batches.push_back(cur);
  } else {
    batches = anchor_batches;
  }
  size_t total_tokens = 0;
  std::vector<int> lengths;
  for (const Seq& s : seqs) total_tokens += s.ids.size(), lengths.push_back(static_cast<int>(s.ids.size()));
  const double macs = (*encoder)->MacsFor(lengths);

  std::vector<float> out(seqs.size() * (*encoder)->output_dim());
  auto pass = [&]() {
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& b : batches) {
      std::vector<EncoderInput> in;
      for (size_t i : b) in.push_back({seqs[i].ids, seqs[i].types});
      auto st = (*encoder)->Run(in, out.data() + b[0] * (*encoder)->output_dim());
      if (!st.ok()) Die(st.ToString());
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  pass();  // warm-up
  std::vector<double> times;
  for (int r = 0; r < std::max(1, a.repeat); ++r) times.push_back(pass());
  std::sort(times.begin(), times.end());
  const double sec = times[times.size() / 2];

  nlohmann::json j;
  j["engine"] = "quarry";
  j["precision"] = quarry::model::PrecisionName(*precision);
  j["workload"] = a.workload;
  j["n_items"] = seqs.size();
  j["tokens"] = total_tokens;
  j["seconds"] = sec;
  j["best_seconds"] = times.front();
  j["ms_per_item"] = sec * 1000.0 / static_cast<double>(seqs.size());
  j["gflops"] = 2.0 * macs / sec / 1e9;
  j["macs"] = macs;
  j["threads"] = a.threads;
  {
    // Where the time went, over all passes (warm-up included).
    const std::vector<double> st = (*encoder)->StageSeconds();
    double sum = 0;
    for (double v : st) sum += v;
    nlohmann::json stages;
    for (int i = 0; i < Encoder::kStages; ++i) stages[Encoder::StageName(i)] = sum > 0 ? st[i] / sum : 0;
    j["stage_share"] = stages;
  }
  j["load_avg_1m"] = quarry::bench::LoadAverage1m();
  if (a.peak) {
    const double p32 = PeakFp32(a.threads), p8 = PeakInt8(a.threads);
    j["peak_fp32_gflops"] = p32 / 1e9;
    j["peak_int8_gops"] = p8 / 1e9;
    if (__builtin_cpu_supports("avx512bf16")) j["peak_bf16_gflops"] = PeakBf16(a.threads) / 1e9;
  }
  std::cout << j.dump() << std::endl;
  return 0;
}
