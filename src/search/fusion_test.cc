#include "search/fusion.h"

#include <gtest/gtest.h>

#include <cmath>

namespace quarry::search {
namespace {

std::vector<Scored> L(std::initializer_list<uint64_t> ids) {
  std::vector<Scored> out;
  float s = 100.0f;
  for (uint64_t id : ids) out.push_back({id, s--});
  return out;
}

// Worked by hand: k = 2, lists [7, 3, 9] and [3, 5].
//   7: 1/(0+2)            = 0.5
//   3: 1/(1+2) + 1/(0+2)  = 0.8333
//   9: 1/(2+2)            = 0.25
//   5: 1/(1+2)            = 0.3333
TEST(FusionTest, RrfMatchesHandComputedScores) {
  std::vector<std::vector<Scored>> lists = {L({7, 3, 9}), L({3, 5})};
  auto fused = FuseRrf(lists, kDefaultRrfK);
  ASSERT_TRUE(fused.ok());
  ASSERT_EQ(fused->size(), 4u);
  EXPECT_EQ((*fused)[0].id, 3u);
  EXPECT_FLOAT_EQ((*fused)[0].score, 1.0f / 3 + 0.5f);
  EXPECT_EQ((*fused)[1].id, 7u);
  EXPECT_FLOAT_EQ((*fused)[1].score, 0.5f);
  EXPECT_EQ((*fused)[2].id, 5u);
  EXPECT_FLOAT_EQ((*fused)[2].score, 1.0f / 3);
  EXPECT_EQ((*fused)[3].id, 9u);
  EXPECT_FLOAT_EQ((*fused)[3].score, 0.25f);
  // k = 60 (the paper's): 3 gets 1/61 + 1/60.
  auto k60 = FuseRrf(lists, 60);
  EXPECT_FLOAT_EQ((*k60)[0].score, 1.0f / 61 + 1.0f / 60);
}

// Weights stretch positions: with weights [3, 1] and k = 2, position 2 of the
// first list scores 1/((2+1)/3 + 1) = 1/2, like position 0 of an unweighted one.
TEST(FusionTest, RrfWeights) {
  std::vector<std::vector<Scored>> lists = {L({1, 2, 3}), L({4})};
  const float w[] = {3.0f, 1.0f};
  auto fused = FuseRrf(lists, 2, w);
  ASSERT_TRUE(fused.ok());
  // 1: 1/(1/3+1) = 0.75; 2: 1/(2/3+1) = 0.6; 3: 0.5; 4: 0.5 -> tie broken by id.
  ASSERT_EQ(fused->size(), 4u);
  EXPECT_EQ((*fused)[0].id, 1u);
  EXPECT_FLOAT_EQ((*fused)[0].score, 0.75f);
  EXPECT_EQ((*fused)[1].id, 2u);
  EXPECT_FLOAT_EQ((*fused)[1].score, 0.6f);
  EXPECT_EQ((*fused)[2].id, 3u);
  EXPECT_EQ((*fused)[3].id, 4u);
  EXPECT_FLOAT_EQ((*fused)[2].score, (*fused)[3].score);
  // A zero weight keeps the points but adds nothing.
  const float zero[] = {0.0f, 1.0f};
  auto z = FuseRrf(lists, 2, zero);
  ASSERT_TRUE(z.ok());
  EXPECT_EQ((*z)[0], (Scored{4, 0.5f}));
  EXPECT_EQ((*z)[1].score, 0.0f);
  // Weight count must match the lists.
  const float one[] = {1.0f};
  EXPECT_EQ(FuseRrf(lists, 2, one).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(FuseRrf(lists, 0).ok());
  const float nan[] = {std::nanf(""), 1.0f};
  EXPECT_FALSE(FuseRrf(lists, 2, nan).ok());
}

// DBSF by hand: list A scores {3, 1, 2} (mean 2, sample sd 1, range [-1, 5]):
//   normalized (s + 1) / 6 -> 3: 0.6667, 1: 0.3333, 2: 0.5
// list B = one point -> 0.5; list C constant {4, 4} -> 0.5 each.
TEST(FusionTest, DbsfMatchesHandComputedScores) {
  std::vector<std::vector<Scored>> lists = {
      {{10, 3.0f}, {11, 1.0f}, {12, 2.0f}}, {{11, 9.0f}}, {{12, 4.0f}, {13, 4.0f}}};
  auto fused = FuseDbsf(lists);
  ASSERT_TRUE(fused.ok());
  ASSERT_EQ(fused->size(), 4u);
  // 12: 0.5 + 0.5 = 1.0; 11: 0.3333 + 0.5 = 0.8333; 10: 0.6667; 13: 0.5
  EXPECT_EQ((*fused)[0].id, 12u);
  EXPECT_NEAR((*fused)[0].score, 1.0, 1e-6);
  EXPECT_EQ((*fused)[1].id, 11u);
  EXPECT_NEAR((*fused)[1].score, 1.0 / 3 + 0.5, 1e-6);
  EXPECT_EQ((*fused)[2].id, 10u);
  EXPECT_NEAR((*fused)[2].score, 2.0 / 3, 1e-6);
  EXPECT_EQ((*fused)[3].id, 13u);
  EXPECT_NEAR((*fused)[3].score, 0.5, 1e-6);
  // Weights scale each list's normalized scores; missing ones are 1.
  const float w[] = {2.0f};
  auto weighted = FuseDbsf(lists, w);
  ASSERT_TRUE(weighted.ok());
  EXPECT_EQ((*weighted)[0].id, 12u);  // 2 * 0.5 + 0.5
  EXPECT_NEAR((*weighted)[0].score, 1.5, 1e-6);
  const float too_many[] = {1, 1, 1, 1};
  EXPECT_FALSE(FuseDbsf(lists, too_many).ok());
}

TEST(FusionTest, EmptyInputs) {
  std::vector<std::vector<Scored>> none;
  EXPECT_TRUE(FuseRrf(none, 2)->empty());
  EXPECT_TRUE(FuseDbsf(none)->empty());
  std::vector<std::vector<Scored>> empties = {{}, {}};
  EXPECT_TRUE(FuseRrf(empties, 2)->empty());
  EXPECT_TRUE(FuseDbsf(empties)->empty());
}

}  // namespace
}  // namespace quarry::search
