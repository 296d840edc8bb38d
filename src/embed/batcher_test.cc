#include "embed/batcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "embed/embedder.h"
#include "model/tokenizer.h"

namespace quarry::embed {
namespace {

bool HaveNumpy() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

class BatcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("quarry_batcher_" + std::to_string(getpid())));
    if (!HaveNumpy()) return;
    for (const char* preset : {"tiny-bert", "tiny-bert-ce"}) {
      const std::string cmd = "/usr/bin/python3 " QUARRY_SOURCE_DIR "/tools/make_tiny_model.py --out " +
                              (*dir_ / preset).string() + " --preset " + preset + " >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0);
    }
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    if (!HaveNumpy()) GTEST_SKIP() << "needs /usr/bin/python3 with numpy (python3-numpy)";
  }
  static std::filesystem::path* dir_;
};
std::filesystem::path* BatcherTest::dir_ = nullptr;

// Many threads at once through a small token budget: every caller gets exactly
// the outputs a direct, unbatched forward pass gives for its own inputs.
TEST_F(BatcherTest, ConcurrentCallersGetTheirOwnOutputsInOrder) {
  auto enc = model::Encoder::Load(*dir_ / "tiny-bert", {model::Precision::kF32, 2});
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  const int dim = (*enc)->output_dim();
  DynamicBatcher batcher(enc->get(), {/*max*/ 200, /*min*/ 50, /*target_ms*/ 1});
  constexpr int kThreads = 8, kCalls = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int call = 0; call < kCalls; ++call) {
        const int n = 1 + static_cast<int>(rng() % 6);
        std::vector<std::vector<int32_t>> ids(n);
        std::vector<model::EncoderInput> in(n);
        for (int i = 0; i < n; ++i) {
          ids[i].resize(1 + rng() % 60);
          for (auto& v : ids[i]) v = static_cast<int32_t>(rng() % 900);
          in[i] = {ids[i], {}};
        }
        std::vector<float> got(n * dim);
        if (!batcher.Run(in, got.data()).ok()) {
          ++failures;
          continue;
        }
        for (int i = 0; i < n; ++i) {
          std::vector<float> want(dim);
          model::EncoderInput one = in[i];
          if (!(*enc)->Run({&one, 1}, want.data()).ok()) ++failures;
          for (int d = 0; d < dim; ++d) {
            if (std::fabs(want[d] - got[i * dim + d]) > 1e-5f) {
              ++failures;
              break;
            }
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const BatcherStats st = batcher.stats();
  EXPECT_GT(st.sequences, 0u);
  EXPECT_LT(st.batches, st.sequences);  // callers shared batches
  EXPECT_GE(st.token_budget, 50u);
  EXPECT_LE(st.token_budget, 200u);
}

TEST_F(BatcherTest, BadInputFailsOnlyItsCaller) {
  auto enc = model::Encoder::Load(*dir_ / "tiny-bert", {model::Precision::kF32, 1});
  ASSERT_TRUE(enc.ok());
  DynamicBatcher batcher(enc->get(), {});
  std::vector<int32_t> good = {2, 10, 11, 3}, bad = {2, 5000, 3}, empty;
  std::vector<float> out(2 * (*enc)->output_dim());
  std::vector<model::EncoderInput> in = {{good, {}}, {bad, {}}};
  Status s = batcher.Run(in, out.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("vocabulary"), std::string::npos);
  in = {{empty, {}}};
  EXPECT_FALSE(batcher.Run(in, out.data()).ok());
  in = {{good, {}}};
  EXPECT_TRUE(batcher.Run(in, out.data()).ok());
  EXPECT_TRUE(batcher.Run({}, out.data()).ok());
}

TEST_F(BatcherTest, LocalEmbedderAndReranker) {
  auto emb = OpenLocalEmbedder(*dir_ / "tiny-bert", {});
  ASSERT_TRUE(emb.ok()) << emb.status().ToString();
  EXPECT_EQ((*emb)->model_id(), "tiny-bert");
  std::vector<std::string_view> texts = {"the quick brown fox", "", "the quick brown fox",
                                         std::string_view("\xff\xfe broken utf8")};
  std::vector<std::vector<float>> vecs;
  ASSERT_TRUE((*emb)->Embed(texts, TextKind::kDocument, &vecs).ok());
  ASSERT_EQ(vecs.size(), 4u);
  EXPECT_EQ(vecs[0], vecs[2]);
  EXPECT_NE(vecs[0], vecs[1]);
  double norm = 0;
  for (float v : vecs[0]) norm += v * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);  // tiny-bert lists Normalize

  // A prefix changes query embeddings only.
  LocalModelOptions with_prefix;
  with_prefix.query_prefix = "query: ";
  auto emb2 = OpenLocalEmbedder(*dir_ / "tiny-bert", with_prefix);
  ASSERT_TRUE(emb2.ok());
  std::vector<std::vector<float>> q, d;
  ASSERT_TRUE((*emb2)->Embed(std::span(texts).first(1), TextKind::kQuery, &q).ok());
  ASSERT_TRUE((*emb2)->Embed(std::span(texts).first(1), TextKind::kDocument, &d).ok());
  EXPECT_NE(q[0], vecs[0]);
  EXPECT_EQ(d[0], vecs[0]);

  // Long input is truncated, not rejected.
  std::string long_text;
  for (int i = 0; i < 500; ++i) long_text += "word ";
  std::vector<std::string_view> one = {long_text};
  EXPECT_TRUE((*emb)->Embed(one, TextKind::kDocument, &vecs).ok());

  auto rr = OpenLocalReranker(*dir_ / "tiny-bert-ce", {});
  ASSERT_TRUE(rr.ok()) << rr.status().ToString();
  std::vector<std::string_view> passages = {"a fox jumps", long_text, "a fox jumps"};
  std::vector<float> scores;
  ASSERT_TRUE((*rr)->Score("quick fox", passages, &scores).ok());
  ASSERT_EQ(scores.size(), 3u);
  EXPECT_EQ(scores[0], scores[2]);
  EXPECT_NE(scores[0], scores[1]);

  // Token ids in: the same vectors as the text they tokenize to (the model
  // adds its special tokens and truncates); ids outside the vocabulary are
  // refused, naming the position.
  auto tokenizer = model::Tokenizer::Load(*dir_ / "tiny-bert");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  std::vector<std::vector<int32_t>> ids = {(*tokenizer)->Tokenize("the quick brown fox"),
                                           (*tokenizer)->Tokenize(long_text), {}};
  std::vector<std::vector<float>> from_ids, from_text;
  ASSERT_TRUE((*emb)->EmbedTokens(ids, &from_ids).ok());
  std::vector<std::string_view> same = {"the quick brown fox", long_text, ""};
  ASSERT_TRUE((*emb)->Embed(same, TextKind::kDocument, &from_text).ok());
  EXPECT_EQ(from_ids, from_text);
  std::vector<std::vector<int32_t>> bad = {{1, 2}, {3, static_cast<int32_t>((*tokenizer)->vocab_size())}};
  Status refused = (*emb)->EmbedTokens(bad, &from_ids);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("input[1][1]"), std::string::npos) << refused.ToString();

  // The wrong kind of model is a clear error.
  auto wrong = OpenLocalReranker(*dir_ / "tiny-bert", {});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("not a cross-encoder"), std::string::npos);
}

}  // namespace
}  // namespace quarry::embed
