#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "index/dense/codec.h"
#include "index/dense/distance.h"

namespace quarry::index::dense {
namespace {

// Every ISA's kernels agree with the scalar ones on random data of many
// lengths and unaligned offsets; integer kernels exactly.
TEST(DistanceTest, EveryIsaMatchesScalar) {
  const Kernels* scalar = GetKernelsFor(Isa::kScalar);
  ASSERT_NE(scalar, nullptr);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> real(-2.0f, 2.0f);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<size_t> dims;
  for (size_t dim = 1; dim <= 130; ++dim) dims.push_back(dim);
  for (size_t dim : {384, 768, 1536}) dims.push_back(dim);
  for (Isa isa : SupportedIsas()) {
    const Kernels* kernels = GetKernelsFor(isa);
    ASSERT_NE(kernels, nullptr);
    for (size_t dim : dims) {
      for (size_t offset : {0, 1, 3}) {
        std::vector<float> fa(dim + offset), fb(dim + offset);
        std::vector<int8_t> ia(dim + offset), ib(dim + offset);
        std::vector<uint8_t> ua(dim + offset), ub(dim + offset);
        for (size_t i = 0; i < dim + offset; ++i) {
          fa[i] = real(rng);
          fb[i] = real(rng);
          ia[i] = static_cast<int8_t>(byte(rng));
          ib[i] = static_cast<int8_t>(byte(rng));
          ua[i] = static_cast<uint8_t>(byte(rng));
          ub[i] = static_cast<uint8_t>(byte(rng));
        }
        const float* a = fa.data() + offset;
        const float* b = fb.data() + offset;
        float tol = 1e-4f * static_cast<float>(dim);
        EXPECT_NEAR(kernels->l2_sq_f32(a, b, dim), scalar->l2_sq_f32(a, b, dim), tol)
            << kernels->name << " dim " << dim;
        EXPECT_NEAR(kernels->dot_f32(a, b, dim), scalar->dot_f32(a, b, dim), tol)
            << kernels->name << " dim " << dim;
        EXPECT_EQ(kernels->dot_i8(ia.data() + offset, ib.data() + offset, dim),
                  scalar->dot_i8(ia.data() + offset, ib.data() + offset, dim))
            << kernels->name << " dim " << dim;
        EXPECT_EQ(kernels->l2_sq_i8(ia.data() + offset, ib.data() + offset, dim),
                  scalar->l2_sq_i8(ia.data() + offset, ib.data() + offset, dim))
            << kernels->name << " dim " << dim;
        EXPECT_EQ(kernels->hamming(ua.data() + offset, ub.data() + offset, dim),
                  scalar->hamming(ua.data() + offset, ub.data() + offset, dim))
            << kernels->name << " dim " << dim;
      }
    }
  }
}

TEST(DistanceTest, Int8ExtremesAreExact) {
  for (Isa isa : SupportedIsas()) {
    const Kernels* kernels = GetKernelsFor(isa);
    for (size_t dim : {1, 63, 64, 65, 384, 4096}) {
      std::vector<int8_t> lo(dim, -128), hi(dim, 127);
      EXPECT_EQ(kernels->dot_i8(lo.data(), lo.data(), dim), int32_t(dim) * 128 * 128) << kernels->name;
      EXPECT_EQ(kernels->dot_i8(lo.data(), hi.data(), dim), -int32_t(dim) * 128 * 127) << kernels->name;
      EXPECT_EQ(kernels->l2_sq_i8(lo.data(), hi.data(), dim), int32_t(dim) * 255 * 255) << kernels->name;
    }
  }
  EXPECT_FALSE(GetKernels().name.empty());
}

std::vector<float> Clustered(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(16 * dim);
  for (auto& v : centres) v = normal(rng);
  std::vector<float> out(n * dim);
  for (size_t row = 0; row < n; ++row) {
    size_t centre = rng() % 16;
    for (size_t i = 0; i < dim; ++i) out[row * dim + i] = centres[centre * dim + i] + 0.3f * normal(rng);
  }
  return out;
}

// Ranking by int8 codes keeps most of the exact top 10 (before rescoring).
TEST(CodecTest, Int8RankingTracksExact) {
  const size_t dim = 64, n = 2000;
  auto data = Clustered(n, dim, 5);
  auto queries = Clustered(50, dim, 6);
  for (Metric metric : {Metric::kCosine, Metric::kDot, Metric::kL2}) {
    auto exact = VectorCodec::Create(dim, metric, Quantization::kFloat32);
    auto int8 = VectorCodec::Create(dim, metric, Quantization::kInt8, 0.99f);
    ASSERT_TRUE(exact.ok() && int8.ok());
    (*int8)->Train(data);
    std::vector<uint8_t> exact_codes(n * (*exact)->code_size()), int8_codes(n * (*int8)->code_size());
    for (size_t row = 0; row < n; ++row) {
      (*exact)->Encode(&data[row * dim], &exact_codes[row * (*exact)->code_size()]);
      (*int8)->Encode(&data[row * dim], &int8_codes[row * (*int8)->code_size()]);
    }
    double hits = 0;
    for (size_t q = 0; q < 50; ++q) {
      auto top = [&](const VectorCodec& codec, const std::vector<uint8_t>& codes, size_t k) {
        auto prepared = codec.Prepare(&queries[q * dim]);
        std::vector<std::pair<float, size_t>> scored;
        for (size_t row = 0; row < n; ++row) {
          scored.emplace_back(prepared->Distance(&codes[row * codec.code_size()]), row);
        }
        std::partial_sort(scored.begin(), scored.begin() + k, scored.end());
        std::vector<size_t> ids;
        for (size_t i = 0; i < k; ++i) ids.push_back(scored[i].second);
        return ids;
      };
      auto truth = top(**exact, exact_codes, 10);
      auto approx = top(**int8, int8_codes, 40);  // 4x oversampling, as rescoring would
      for (size_t id : truth) hits += std::count(approx.begin(), approx.end(), id);
    }
    EXPECT_GE(hits / 500.0, 0.95) << MetricName(metric);
  }
}

TEST(CodecTest, CosineNormalisesAndParamsRoundTrip) {
  auto codec = VectorCodec::Create(4, Metric::kCosine, Quantization::kFloat32);
  ASSERT_TRUE(codec.ok());
  float a[4] = {3, 0, 0, 4}, b[4] = {30, 0, 0, 40};
  std::vector<uint8_t> code((*codec)->code_size());
  (*codec)->Encode(b, code.data());
  EXPECT_NEAR((*codec)->Prepare(a)->Distance(code.data()), -1.0f, 1e-6);
  EXPECT_NEAR((*codec)->ExactDistance(a, b), -1.0f, 1e-6);

  auto int8 = VectorCodec::Create(8, Metric::kL2, Quantization::kInt8, 0.9f);
  std::vector<float> sample = {0.1f, -0.5f, 2.0f, 0.3f, 0.0f, 1.0f, -1.0f, 0.25f};
  (*int8)->Train(sample);
  auto back = VectorCodec::Deserialize((*int8)->SerializeParams());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)->SerializeParams(), (*int8)->SerializeParams());
  EXPECT_EQ((*back)->quantization(), Quantization::kInt8);
  std::string params = (*int8)->SerializeParams();
  for (size_t len = 0; len < params.size(); ++len) {
    EXPECT_FALSE(VectorCodec::Deserialize(params.substr(0, len)).ok());
  }
  params[1] = 9;
  EXPECT_FALSE(VectorCodec::Deserialize(params).ok());
  EXPECT_FALSE(VectorCodec::Create(0, Metric::kL2, Quantization::kFloat32).ok());

  auto binary = VectorCodec::Create(10, Metric::kCosine, Quantization::kBinary);
  EXPECT_EQ((*binary)->code_size(), 2u);
  float x[10] = {1, -1, 1, -1, 1, -1, 1, -1, 1, -1}, y[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  std::vector<uint8_t> cy(2);
  (*binary)->Encode(y, cy.data());
  EXPECT_EQ((*binary)->Prepare(x)->Distance(cy.data()), 5.0f);
}

}  // namespace
}  // namespace quarry::index::dense
