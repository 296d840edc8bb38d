#include "model/encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/kernels.h"

namespace quarry::model {
namespace {

TEST(KernelsTest, ExpAndErfMatchLibm) {
  for (float x = -20.0f; x <= 20.0f; x += 0.001f) {
    const float e = std::exp(x);
    ASSERT_NEAR(kernels::Exp(x), e, e * 3e-7f) << x;
    ASSERT_NEAR(kernels::Erf(x), std::erf(x), 5e-7f) << x;
  }
  EXPECT_EQ(kernels::Exp(-1000.0f) < 1e-37f, true);
}

TEST(KernelsTest, GeluAndLayerNorm) {
  std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.5f, 3.0f};
  std::vector<float> g = x, t = x;
  kernels::GeluErf(g.data(), g.size());
  kernels::GeluTanh(t.data(), t.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    EXPECT_NEAR(g[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-6);
    EXPECT_NEAR(t[i], 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))),
                1e-6);
  }
  std::vector<float> row = {1, 2, 3, 4}, gamma = {1, 2, 1, 1}, beta = {0, 0, 1, 0};
  kernels::LayerNorm(row.data(), 1, 4, gamma.data(), beta.data(), 0.0f);
  const double sd = std::sqrt(1.25);
  EXPECT_NEAR(row[0], -1.5 / sd, 1e-6);
  EXPECT_NEAR(row[1], 2 * -0.5 / sd, 1e-6);
  EXPECT_NEAR(row[2], 0.5 / sd + 1, 1e-6);
  EXPECT_NEAR(row[3], 1.5 / sd, 1e-6);
}

// Naive attention for one packed batch, in double.
std::vector<double> NaiveAttention(const std::vector<float>& qkv, const std::vector<int>& lens,
                                   int hidden, int heads) {
  const int d = hidden / heads;
  int total = 0;
  for (int l : lens) total += l;
  std::vector<double> ctx(static_cast<size_t>(total) * hidden);
  int off = 0;
  for (int len : lens) {
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < len; ++i) {
        std::vector<double> s(len);
        double mx = -1e300;
        for (int j = 0; j < len; ++j) {
          double dot = 0;
          for (int k = 0; k < d; ++k) {
            dot += static_cast<double>(qkv[(off + i) * 3 * hidden + h * d + k]) *
                   qkv[(off + j) * 3 * hidden + hidden + h * d + k];
          }
          s[j] = dot / std::sqrt(static_cast<double>(d));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double& v : s) sum += (v = std::exp(v - mx));
        for (int k = 0; k < d; ++k) {
          double acc = 0;
          for (int j = 0; j < len; ++j) {
            acc += s[j] / sum * qkv[(off + j) * 3 * hidden + 2 * hidden + h * d + k];
          }
          ctx[(off + i) * hidden + h * d + k] = acc;
        }
      }
    }
    off += len;
  }
  return ctx;
}

class AttentionTest : public ::testing::TestWithParam<std::pair<int, int>> {};

// head_dim 16, 32, 64 take the AVX-512 kernel where the CPU has it; 8 and 24
// the portable one.
INSTANTIATE_TEST_SUITE_P(HeadDims, AttentionTest,
                         ::testing::Values(std::make_pair(48, 3), std::make_pair(128, 4),
                                           std::make_pair(384, 12), std::make_pair(768, 12),
                                           std::make_pair(128, 2), std::make_pair(32, 4),
                                           std::make_pair(48, 2)));

TEST_P(AttentionTest, PackedAttentionMatchesNaive) {
  const auto [hidden, heads] = GetParam();
  const std::vector<int> lens = {1, 7, 33, 2, 64, 31};
  int total = 0;
  std::vector<int> offsets;
  for (int l : lens) offsets.push_back(total), total += l;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.5f);
  std::vector<float> qkv(static_cast<size_t>(total) * 3 * hidden);
  for (float& v : qkv) v = dist(rng);
  std::vector<double> want = NaiveAttention(qkv, lens, hidden, heads);
  std::vector<float> ctx(static_cast<size_t>(total) * hidden, -1.0f);
  kernels::Attention(qkv.data(), 3 * hidden, offsets.data(), lens.data(), 6, hidden, heads, false,
                     ctx.data(), hidden);
  for (size_t i = 0; i < ctx.size(); ++i) ASSERT_NEAR(ctx[i], want[i], 1e-5) << i;
  // bf16 dot products (int8 / bf16 precisions): close, not exact.
  std::vector<float> low(static_cast<size_t>(total) * hidden, -1.0f);
  kernels::Attention(qkv.data(), 3 * hidden, offsets.data(), lens.data(), 6, hidden, heads, false,
                     low.data(), hidden, /*bf16_dots=*/true);
  double err = 0, norm = 0;
  for (size_t i = 0; i < low.size(); ++i) {
    err += (low[i] - want[i]) * (low[i] - want[i]);
    norm += want[i] * want[i];
  }
  EXPECT_LT(std::sqrt(err / norm), 0.02);
  std::vector<float> first(6 * hidden, -1.0f);
  kernels::Attention(qkv.data(), 3 * hidden, offsets.data(), lens.data(), 6, hidden, heads, true,
                     first.data(), hidden);
  for (int s = 0; s < 6; ++s) {
    for (int k = 0; k < hidden; ++k) {
      ASSERT_NEAR(first[s * hidden + k], want[offsets[s] * hidden + k], 1e-5);
    }
  }
}

TEST(KernelsTest, Int8QuantizationRoundTrips) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.3f, 2.0f);
  const size_t rows = 5, cols = 77;
  std::vector<float> x(rows * cols);
  for (float& v : x) v = dist(rng);
  std::vector<uint8_t> q(x.size());
  std::vector<float> scale(rows);
  std::vector<int32_t> zp(rows);
  kernels::QuantizeRowsU8(x.data(), rows, cols, q.data(), scale.data(), zp.data());
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      const float back = scale[r] * (static_cast<int>(q[r * cols + c]) - zp[r]);
      ASSERT_NEAR(back, x[r * cols + c], scale[r] * 0.5f + 1e-5f);
    }
  }
}

// Every precision of Linear against a double-precision product.
TEST(LinearTest, MatchesReferenceInEachPrecision) {
  const int in = 96, out = 40;
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> w(static_cast<size_t>(in) * out), b(out);
  for (float& v : w) v = dist(rng);
  for (float& v : b) v = dist(rng);
  for (size_t rows : {1u, 3u, 17u}) {
    std::vector<float> x(rows * in);
    for (float& v : x) v = dist(rng);
    std::vector<double> want(rows * out);
    for (size_t r = 0; r < rows; ++r) {
      for (int n = 0; n < out; ++n) {
        double acc = b[n];
        for (int k = 0; k < in; ++k) acc += static_cast<double>(x[r * in + k]) * w[n * in + k];
        want[r * out + n] = 0.5 * acc * (1 + std::erf(acc / std::sqrt(2.0)));
      }
    }
    for (Precision p : {Precision::kF32, Precision::kBF16, Precision::kInt8}) {
      if (!PrecisionSupported(p)) continue;
      auto layer = Linear::Create(w.data(), b.data(), out, in, p, kernels::Act::kGeluErf, false);
      ASSERT_TRUE(layer.ok()) << layer.status().ToString();
      LinearScratch scratch;
      std::vector<float> y(rows * out, 7.0f);
      (*layer)->Forward(x.data(), rows, y.data(), &scratch);
      const double tol = p == Precision::kF32 ? 1e-4 : 0.15;
      double err = 0, norm = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], want[i], tol) << PrecisionName(p) << " rows " << rows << " i " << i;
        err += (y[i] - want[i]) * (y[i] - want[i]);
        norm += want[i] * want[i];
      }
      EXPECT_LT(std::sqrt(err / norm), p == Precision::kF32 ? 1e-5 : 0.03) << PrecisionName(p);
      // Accumulating layers add into y.
      auto acc = Linear::Create(w.data(), b.data(), out, in, p, kernels::Act::kNone, true);
      ASSERT_TRUE(acc.ok());
      std::vector<float> z(rows * out, 1.0f);
      (*acc)->Forward(x.data(), rows, z.data(), &scratch);
      for (size_t r = 0; r < rows; ++r) {
        double pre = b[0];
        for (int k = 0; k < in; ++k) pre += static_cast<double>(x[r * in + k]) * w[k];
        ASSERT_NEAR(z[r * out], 1.0 + pre, tol) << PrecisionName(p);
      }
    }
  }
}

}  // namespace
}  // namespace quarry::model
