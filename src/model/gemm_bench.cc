// Which GEMM should the encoder use? Quarry's Linear (oneDNN matmul, fp32 /
// bf16 / int8) against OpenBLAS's sgemm (the library PyTorch uses here) on the
// dense-layer shapes of a 384-wide BERT (bge-small, MiniLM) and a 768-wide one
// (bge-base), for a single query (M=12), a small batch (M=256) and an ingest
// batch (M=4096 tokens). Counters: GFLOP/s (2*M*N*K per call).
//
//   quarry_gemm_bench [--benchmark_format=json]
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <random>
#include <vector>

#include "model/linear.h"

namespace {

using quarry::model::Linear;
using quarry::model::LinearScratch;
using quarry::model::Precision;

constexpr int kThreads = 2;

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.1f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

void SetFlops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["GFLOPS"] = benchmark::Counter(
      2.0 * m * n * k * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_Quarry(benchmark::State& state, Precision p) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  if (!quarry::model::PrecisionSupported(p)) {
    state.SkipWithError("precision not supported on this CPU");
    return;
  }
  omp_set_num_threads(kThreads);
  auto w = Random(n * k, 1), b = Random(n, 2), x = Random(m * k, 3);
  auto layer = Linear::Create(w.data(), b.data(), static_cast<int>(n), static_cast<int>(k), p,
                              quarry::model::kernels::Act::kNone, false);
  if (!layer.ok()) {
    state.SkipWithError(layer.status().ToString().c_str());
    return;
  }
  std::vector<float> y(m * n);
  LinearScratch scratch;
  for (auto _ : state) {
    (*layer)->Forward(x.data(), static_cast<size_t>(m), y.data(), &scratch);
    benchmark::DoNotOptimize(y.data());
  }
  SetFlops(state, m, n, k);
}

void BM_OpenBlasSgemm(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  openblas_set_num_threads(kThreads);
  auto w = Random(n * k, 1), x = Random(m * k, 3);
  std::vector<float> y(m * n);
  for (auto _ : state) {
    // y[m, n] = x[m, k] * w[n, k]^T, the torch Linear layout.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, x.data(), static_cast<int>(k), w.data(),
                static_cast<int>(k), 0.0f, y.data(), static_cast<int>(n));
    benchmark::DoNotOptimize(y.data());
  }
  SetFlops(state, m, n, k);
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int64_t m : {12, 256, 4096}) {
    for (auto [k, n] : {std::pair<int64_t, int64_t>{384, 1152}, {384, 1536}, {1536, 384},
                        {768, 3072}}) {
      b->Args({m, k, n});
    }
  }
  b->ArgNames({"M", "K", "N"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_OpenBlasSgemm)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Quarry, fp32, Precision::kF32)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Quarry, bf16, Precision::kBF16)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Quarry, int8, Precision::kInt8)->Apply(Shapes);

}  // namespace

BENCHMARK_MAIN();
