// Micro-benchmarks: nanoseconds per call of every distance kernel on every
// ISA this CPU supports, and of PreparedQuery::Distance for each codec (the
// HNSW hot path, virtual call included), at dims 384 and 768. Operands cycle
// through a few L1-resident vectors, so this measures compute, not memory.
//
//   build/.../quarry_dense_kernel_bench --benchmark_filter='dot_i8'
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "index/dense/codec.h"
#include "index/dense/distance.h"

namespace quarry::index::dense {
namespace {

constexpr size_t kVectors = 8;

// kVectors vectors of dim floats and of dim bytes, each array starting on a
// 64-byte boundary (a zmm load across two cache lines costs double, which
// would otherwise make results depend on malloc's whim).
struct Operands {
  explicit Operands(size_t dim)
      : f32_storage(kVectors * dim + 16), byte_storage(kVectors * dim + 64) {
    f32 = f32_storage.data() +
          (64 - reinterpret_cast<uintptr_t>(f32_storage.data()) % 64) % 64 / sizeof(float);
    bytes = byte_storage.data() + (64 - reinterpret_cast<uintptr_t>(byte_storage.data()) % 64) % 64;
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t i = 0; i < kVectors * dim; ++i) {
      f32[i] = normal(rng);
      bytes[i] = static_cast<uint8_t>(rng());
    }
    sample = std::span<const float>(f32, kVectors * dim);
  }
  std::vector<float> f32_storage;
  std::vector<uint8_t> byte_storage;
  float* f32 = nullptr;
  uint8_t* bytes = nullptr;
  std::span<const float> sample;
};

enum class Kernel { kL2SqF32, kDotF32, kDotI8, kDotU8I8, kL2SqI8, kHamming };

void BM_Kernel(benchmark::State& state, const Kernels* kernels, Kernel kernel) {
  const size_t dim = static_cast<size_t>(state.range(0));
  const Operands ops(dim);
  const float* f = ops.f32;
  const uint8_t* u = ops.bytes;
  const int8_t* s = reinterpret_cast<const int8_t*>(u);
  size_t a = 0, b = 1;
  size_t bytes_per_call = 2 * dim;
  for (auto _ : state) {
    const size_t ao = a * dim, bo = b * dim;
    switch (kernel) {
      case Kernel::kL2SqF32: benchmark::DoNotOptimize(kernels->l2_sq_f32(f + ao, f + bo, dim)); break;
      case Kernel::kDotF32: benchmark::DoNotOptimize(kernels->dot_f32(f + ao, f + bo, dim)); break;
      case Kernel::kDotI8: benchmark::DoNotOptimize(kernels->dot_i8(s + ao, s + bo, dim)); break;
      case Kernel::kDotU8I8: benchmark::DoNotOptimize(kernels->dot_u8i8(u + ao, s + bo, dim)); break;
      case Kernel::kL2SqI8: benchmark::DoNotOptimize(kernels->l2_sq_i8(s + ao, s + bo, dim)); break;
      // `dim` bits: a 384-d binary code is 48 bytes.
      case Kernel::kHamming: benchmark::DoNotOptimize(kernels->hamming(u + ao, u + bo, dim / 8)); break;
    }
    a = (a + 1) % kVectors;
    b = (b + 3) % kVectors;
  }
  if (kernel == Kernel::kL2SqF32 || kernel == Kernel::kDotF32) bytes_per_call = 8 * dim;
  if (kernel == Kernel::kHamming) bytes_per_call = dim / 4;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes_per_call));
}

// PreparedQuery::Distance with the kernels GetKernels() chose (QUARRY_ISA caps).
void BM_Codec(benchmark::State& state, Metric metric, Quantization quantization) {
  const size_t dim = static_cast<size_t>(state.range(0));
  const Operands ops(dim);
  auto codec = VectorCodec::Create(dim, metric, quantization);
  if (!codec.ok()) {
    state.SkipWithError(codec.status().ToString().c_str());
    return;
  }
  (*codec)->Train(ops.sample);
  const size_t size = (*codec)->code_size();
  // Codes packed back to back from a 64-byte boundary, as an index would
  // store them (float32 codes of these dims stay aligned; int8 ones do not).
  std::vector<uint8_t> storage(kVectors * size + 64);
  uint8_t* codes = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
  for (size_t row = 0; row < kVectors; ++row) {
    (*codec)->Encode(ops.f32 + row * dim, codes + row * size);
  }
  const auto query = (*codec)->Prepare(ops.f32);
  size_t row = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(query->Distance(codes + row * size));
    row = (row + 1) % kVectors;
  }
  state.SetLabel(std::string(GetKernels().name));
}

const bool kRegistered = [] {
  const std::pair<Kernel, const char*> kernels[] = {
      {Kernel::kL2SqF32, "l2_sq_f32"}, {Kernel::kDotF32, "dot_f32"},
      {Kernel::kDotI8, "dot_i8"},      {Kernel::kDotU8I8, "dot_u8i8"},
      {Kernel::kL2SqI8, "l2_sq_i8"},   {Kernel::kHamming, "hamming"}};
  for (Isa isa : SupportedIsas()) {
    const Kernels* table = GetKernelsFor(isa);
    for (const auto& [kernel, name] : kernels) {
      benchmark::RegisterBenchmark(
          ("Kernel/" + std::string(name) + "/" + std::string(table->name)).c_str(),
          [table, kernel = kernel](benchmark::State& state) { BM_Kernel(state, table, kernel); })
          ->Arg(384)
          ->Arg(768);
    }
  }
  for (Quantization quantization :
       {Quantization::kFloat32, Quantization::kInt8, Quantization::kBinary}) {
    for (Metric metric : {Metric::kL2, Metric::kDot, Metric::kCosine}) {
      benchmark::RegisterBenchmark(("Codec/" + std::string(QuantizationName(quantization)) + "/" +
                                    std::string(MetricName(metric)))
                                       .c_str(),
                                   [metric, quantization](benchmark::State& state) {
                                     BM_Codec(state, metric, quantization);
                                   })
          ->Arg(384)
          ->Arg(768);
    }
  }
  return true;
}();

}  // namespace
}  // namespace quarry::index::dense
