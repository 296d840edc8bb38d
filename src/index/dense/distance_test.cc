#include "index/dense/distance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace quarry::index::dense {
namespace {

volatile int64_t g_sink = 0;  // keeps kernel calls from being optimised away

std::vector<size_t> TestDims() {
  std::vector<size_t> dims;
  for (size_t dim = 1; dim <= 130; ++dim) dims.push_back(dim);
  for (size_t dim : {255, 256, 257, 384, 768, 1000, 1536}) dims.push_back(dim);
  return dims;
}

// Float kernels agree within a tolerance relative to Σ|terms| (the sums are
// reassociated); integer kernels exactly.
void ExpectMatchesScalar(const Kernels& kernels, const Kernels& scalar, std::mt19937* rng,
                         float float_scale) {
  std::uniform_real_distribution<float> real(-float_scale, float_scale);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t dim : TestDims()) {
    for (size_t offset : {0, 1, 3, 7}) {
      std::vector<float> fa(dim + offset), fb(dim + offset);
      std::vector<uint8_t> ua(dim + offset), ub(dim + offset);
      for (size_t i = 0; i < dim + offset; ++i) {
        fa[i] = real(*rng);
        fb[i] = real(*rng);
        ua[i] = static_cast<uint8_t>(byte(*rng));
        ub[i] = static_cast<uint8_t>(byte(*rng));
      }
      const float* a = fa.data() + offset;
      const float* b = fb.data() + offset;
      double abs_dot = 0.0, abs_l2 = 0.0;
      for (size_t i = 0; i < dim; ++i) {
        abs_dot += std::fabs(double{a[i]} * b[i]);
        abs_l2 += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
      }
      SCOPED_TRACE(std::string(kernels.name) + " dim " + std::to_string(dim) + " offset " +
                   std::to_string(offset));
      EXPECT_NEAR(kernels.l2_sq_f32(a, b, dim), scalar.l2_sq_f32(a, b, dim), 1e-5 * abs_l2 + 1e-30);
      EXPECT_NEAR(kernels.dot_f32(a, b, dim), scalar.dot_f32(a, b, dim), 1e-5 * abs_dot + 1e-30);

      const uint8_t* pa = ua.data() + offset;
      const uint8_t* pb = ub.data() + offset;
      const int8_t* ia = reinterpret_cast<const int8_t*>(pa);
      const int8_t* ib = reinterpret_cast<const int8_t*>(pb);
      EXPECT_EQ(kernels.dot_i8(ia, ib, dim), scalar.dot_i8(ia, ib, dim));
      EXPECT_EQ(kernels.l2_sq_i8(ia, ib, dim), scalar.l2_sq_i8(ia, ib, dim));
      EXPECT_EQ(kernels.dot_u8i8(pa, ib, dim), scalar.dot_u8i8(pa, ib, dim));
      EXPECT_EQ(kernels.hamming(pa, pb, dim), scalar.hamming(pa, pb, dim));
    }
  }
}

TEST(DistanceTest, ScalarKernelsAreRight) {
  const Kernels* scalar = GetKernelsFor(Isa::kScalar);
  ASSERT_NE(scalar, nullptr);
  const float fa[3] = {1.0f, 2.0f, -3.0f}, fb[3] = {4.0f, -1.0f, 0.5f};
  EXPECT_FLOAT_EQ(scalar->l2_sq_f32(fa, fb, 3), 9.0f + 9.0f + 12.25f);
  EXPECT_FLOAT_EQ(scalar->dot_f32(fa, fb, 3), 4.0f - 2.0f - 1.5f);
  const int8_t ia[3] = {-128, 127, 5}, ib[3] = {127, -128, -7};
  EXPECT_EQ(scalar->dot_i8(ia, ib, 3), -128 * 127 * 2 - 35);
  EXPECT_EQ(scalar->l2_sq_i8(ia, ib, 3), 255 * 255 * 2 + 144);
  const uint8_t ua[3] = {255, 0, 128};
  EXPECT_EQ(scalar->dot_u8i8(ua, ib, 3), 255 * 127 + 0 - 128 * 7);
  const uint8_t ha[2] = {0xFF, 0x0F}, hb[2] = {0x00, 0xF0};
  EXPECT_EQ(scalar->hamming(ha, hb, 2), 16u);
  EXPECT_EQ(scalar->hamming(ha, ha, 2), 0u);
  EXPECT_EQ(scalar->dot_f32(fa, fb, 0), 0.0f);
  EXPECT_EQ(scalar->hamming(ha, hb, 0), 0u);
}

TEST(DistanceTest, EveryIsaMatchesScalar) {
  const Kernels* scalar = GetKernelsFor(Isa::kScalar);
  ASSERT_NE(scalar, nullptr);
  std::mt19937 rng(3);
  for (Isa isa : SupportedIsas()) {
    const Kernels* kernels = GetKernelsFor(isa);
    ASSERT_NE(kernels, nullptr);
    EXPECT_EQ(kernels->isa, isa);
    ExpectMatchesScalar(*kernels, *scalar, &rng, 2.0f);
  }
}

TEST(DistanceTest, LargeFloatsMatchScalar) {
  const Kernels* scalar = GetKernelsFor(Isa::kScalar);
  std::mt19937 rng(4);
  for (Isa isa : SupportedIsas()) ExpectMatchesScalar(*GetKernelsFor(isa), *scalar, &rng, 1e15f);
}

// Integer kernels at the ends of the int8 range, including the largest dims
// whose exact results still fit in int32.
TEST(DistanceTest, IntegerExtremesAreExact) {
  for (Isa isa : SupportedIsas()) {
    const Kernels* kernels = GetKernelsFor(isa);
    SCOPED_TRACE(kernels->name);
    for (size_t dim : {1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 384, 4096, 32767}) {
      const std::vector<int8_t> lo(dim, -128), hi(dim, 127);
      const std::vector<uint8_t> top(dim, 255), zero(dim, 0);
      const int64_t n = static_cast<int64_t>(dim);
      EXPECT_EQ(kernels->dot_i8(lo.data(), lo.data(), dim), n * 128 * 128) << dim;
      EXPECT_EQ(kernels->dot_i8(lo.data(), hi.data(), dim), -n * 128 * 127) << dim;
      EXPECT_EQ(kernels->dot_i8(hi.data(), hi.data(), dim), n * 127 * 127) << dim;
      EXPECT_EQ(kernels->l2_sq_i8(lo.data(), hi.data(), dim), n * 255 * 255) << dim;
      EXPECT_EQ(kernels->l2_sq_i8(hi.data(), lo.data(), dim), n * 255 * 255) << dim;
      EXPECT_EQ(kernels->l2_sq_i8(lo.data(), lo.data(), dim), 0) << dim;
      EXPECT_EQ(kernels->dot_u8i8(top.data(), lo.data(), dim), -n * 255 * 128) << dim;
      EXPECT_EQ(kernels->dot_u8i8(top.data(), hi.data(), dim), n * 255 * 127) << dim;
      EXPECT_EQ(kernels->dot_u8i8(zero.data(), hi.data(), dim), 0) << dim;
      EXPECT_EQ(kernels->hamming(top.data(), zero.data(), dim), dim * 8) << dim;
    }
    // dot_i8 and dot_u8i8 stay exact up to 65536 elements.
    const size_t big = 65536;
    const std::vector<int8_t> lo(big, -128);
    const std::vector<uint8_t> top(big, 255);
    EXPECT_EQ(kernels->dot_i8(lo.data(), lo.data(), big), int64_t{1} << 30);
    EXPECT_EQ(kernels->dot_u8i8(top.data(), lo.data(), big), -int64_t{big} * 255 * 128);
    // Alternating extremes (sign changes inside every SIMD lane).
    std::vector<int8_t> mixed(1536);
    for (size_t i = 0; i < mixed.size(); ++i) mixed[i] = (i % 3 == 0) ? -128 : 127;
    const Kernels* scalar = GetKernelsFor(Isa::kScalar);
    for (size_t dim : {1, 100, 1536}) {
      EXPECT_EQ(kernels->dot_i8(mixed.data(), lo.data(), dim),
                scalar->dot_i8(mixed.data(), lo.data(), dim));
      EXPECT_EQ(kernels->l2_sq_i8(mixed.data(), lo.data(), dim),
                scalar->l2_sq_i8(mixed.data(), lo.data(), dim));
    }
  }
}

#if defined(__linux__)
// Operands that end exactly at a page followed by an inaccessible page: a
// kernel that reads one byte past its input crashes here (ASan cannot see
// over-reads by SIMD loads).
TEST(DistanceTest, NoReadsPastTheEnd) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t span = 4 * page;
  void* mapped = mmap(nullptr, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
  ASSERT_NE(mapped, MAP_FAILED);
  uint8_t* base = static_cast<uint8_t*>(mapped);
  ASSERT_EQ(mprotect(base + span, page, PROT_NONE), 0);
  for (size_t i = 0; i < span; ++i) base[i] = static_cast<uint8_t>(i * 37 + 11);
  uint8_t* end = base + span;
  int64_t total = 0;
  for (Isa isa : SupportedIsas()) {
    const Kernels* kernels = GetKernelsFor(isa);
    for (size_t dim = 1; dim <= 200; ++dim) {
      // Two operands, each ending at the guard page (b) or just before a (a).
      const uint8_t* b = end - dim;
      const uint8_t* a = end - 2 * dim;
      total += kernels->dot_i8(reinterpret_cast<const int8_t*>(a),
                                         reinterpret_cast<const int8_t*>(b), dim);
      total += kernels->dot_i8(reinterpret_cast<const int8_t*>(b),
                                         reinterpret_cast<const int8_t*>(a), dim);
      total += kernels->l2_sq_i8(reinterpret_cast<const int8_t*>(b),
                                           reinterpret_cast<const int8_t*>(a), dim);
      total += kernels->dot_u8i8(b, reinterpret_cast<const int8_t*>(a), dim);
      total += kernels->dot_u8i8(a, reinterpret_cast<const int8_t*>(b), dim);
      total += kernels->hamming(b, a, dim);
      const float* fb = reinterpret_cast<const float*>(end) - dim;
      const float* fa = fb - dim;
      total += kernels->dot_f32(fb, fa, dim) > 0.0f;
      total += kernels->l2_sq_f32(fb, fa, dim) > 0.0f;
    }
  }
  g_sink = total;
  munmap(mapped, span + page);
}
#endif

TEST(DistanceTest, DispatchPicksASupportedIsa) {
  const std::vector<Isa> isas = SupportedIsas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::kScalar);
  const Kernels& best = GetKernels();
  EXPECT_NE(GetKernelsFor(best.isa), nullptr);
  EXPECT_FALSE(best.name.empty());
  if (std::getenv("QUARRY_ISA") == nullptr) {
    EXPECT_EQ(best.isa, isas.back());
  }
  for (Isa isa : isas) {
    const Kernels* kernels = GetKernelsFor(isa);
    EXPECT_TRUE(kernels->l2_sq_f32 && kernels->dot_f32 && kernels->dot_i8 && kernels->l2_sq_i8 &&
                kernels->hamming && kernels->dot_u8i8);
  }
  std::string names;
  for (Isa isa : isas) names += std::string(GetKernelsFor(isa)->name) + " ";
  std::printf("supported: %s; chosen: %s\n", names.c_str(), std::string(best.name).c_str());
}

// QUARRY_ISA caps the choice; run in a fresh process (GetKernels() caches).
TEST(DistanceDeathTest, EnvironmentCapsTheIsa) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("QUARRY_ISA", "scalar", 1);
        std::exit(GetKernels().isa == Isa::kScalar ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  if (GetKernelsFor(Isa::kAvx2) != nullptr) {
    EXPECT_EXIT(
        {
          setenv("QUARRY_ISA", "avx2", 1);
          std::exit(GetKernels().isa == Isa::kAvx2 ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
  }
}

}  // namespace
}  // namespace quarry::index::dense
