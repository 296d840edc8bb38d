// The C++ encoder against tools/reference_forward.py, an independent NumPy
// (float64) forward pass, on tiny random models in the real on-disk format
// written by tools/make_tiny_model.py. Skipped when Debian's python3-numpy is
// missing (scripts/install-deps.sh installs it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "model/encoder.h"

namespace quarry::model {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

bool HaveNumpy() {
  static const bool have =
      std::system((std::string(kPython) + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0;
  return have;
}

std::filesystem::path Scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("quarry_encoder_ref_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Generates a model folder once per (preset, extra args).
std::filesystem::path MakeModel(const std::string& name, const std::string& args) {
  const std::filesystem::path out = Scratch() / name;
  if (!std::filesystem::exists(out / "config.json")) {
    const std::string cmd = std::string(kPython) + " " QUARRY_SOURCE_DIR
                            "/tools/make_tiny_model.py --out " + out.string() + " " + args +
                            " >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  return out;
}

class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override { std::filesystem::remove_all(Scratch()); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

struct Seq {
  std::vector<int32_t> ids, types;
};

// Random sequences with lengths from `lengths`, ids in [first_id, vocab).
std::vector<Seq> RandomSeqs(const ModelConfig& c, const std::vector<int>& lengths, bool pairs,
                            uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Seq> out;
  for (int len : lengths) {
    Seq s;
    for (int i = 0; i < len; ++i) {
      s.ids.push_back(static_cast<int32_t>(rng() % c.vocab_size));
      s.types.push_back(pairs && c.type_vocab > 1 && i >= len / 2 ? 1 : 0);
    }
    out.push_back(std::move(s));
  }
  return out;
}

nlohmann::json RunReference(const std::filesystem::path& model, const std::vector<Seq>& seqs) {
  nlohmann::json in;
  in["sequences"] = nlohmann::json::array();
  for (const Seq& s : seqs) in["sequences"].push_back({{"input_ids", s.ids}, {"token_type_ids", s.types}});
  static int counter = 0;
  const auto in_path = Scratch() / ("in" + std::to_string(counter) + ".json");
  const auto out_path = Scratch() / ("out" + std::to_string(counter++) + ".json");
  std::ofstream(in_path) << in.dump();
  const std::string cmd = std::string(kPython) + " " QUARRY_SOURCE_DIR
                          "/tools/reference_forward.py --model " + model.string() + " --input " +
                          in_path.string() + " --output " + out_path.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto text = ReadFileToString(out_path);
  EXPECT_TRUE(text.ok());
  return nlohmann::json::parse(text.ok() ? *text : "{}");
}

std::vector<float> RunEncoder(Encoder& enc, const std::vector<Seq>& seqs) {
  std::vector<EncoderInput> in;
  for (const Seq& s : seqs) in.push_back({s.ids, s.types});
  std::vector<float> out(seqs.size() * enc.output_dim());
  Status st = enc.Run(in, out.data());
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

class EncoderReferenceTest : public ::testing::TestWithParam<std::pair<std::string, std::string>> {
 protected:
  void SetUp() override {
    if (!HaveNumpy()) GTEST_SKIP() << "needs /usr/bin/python3 with numpy (python3-numpy)";
  }
};

TEST_P(EncoderReferenceTest, Fp32MatchesReference) {
  const auto& [name, args] = GetParam();
  const auto dir = MakeModel(name, args);
  auto enc = Encoder::Load(dir, {Precision::kF32, 2});
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  const ModelConfig& c = (*enc)->config();
  const int max_len = c.max_position - c.position_offset();
  // One batch with a single token, odd lengths, and the longest the model takes.
  const auto seqs = RandomSeqs(c, {1, 5, 17, max_len, 2, 33}, c.task == Task::kClassification, 42);
  const nlohmann::json ref = RunReference(dir, seqs);
  const std::vector<float> got = RunEncoder(**enc, seqs);
  const int dim = (*enc)->output_dim();
  const bool cls = c.task == Task::kClassification;
  const nlohmann::json& want = cls ? ref["scores"] : ref["embeddings"];
  ASSERT_EQ(want.size(), seqs.size()) << ref.dump().substr(0, 200);
  double max_err = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (int d = 0; d < dim; ++d) {
      const double w = cls ? (want[s].is_array() ? want[s][d].get<double>() : want[s].get<double>())
                           : want[s][d].get<double>();
      max_err = std::max(max_err, std::fabs(w - got[s * dim + d]));
      ASSERT_NEAR(got[s * dim + d], w, 1e-4) << name << " seq " << s << " dim " << d;
    }
  }
  RecordProperty("max_abs_error", std::to_string(max_err));
  // The same sequences one at a time give the same outputs: batching is exact.
  for (size_t s = 0; s < seqs.size(); ++s) {
    const std::vector<float> one = RunEncoder(**enc, {seqs[s]});
    for (int d = 0; d < dim; ++d) ASSERT_NEAR(one[d], got[s * dim + d], 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, EncoderReferenceTest,
    ::testing::Values(
        std::make_pair("bert_cls", "--preset tiny-bert"),
        std::make_pair("bert_mean", "--preset tiny-bert --pooling mean --normalize 1"),
        std::make_pair("bert_last_raw", "--preset tiny-bert --pooling lasttoken --normalize 0"),
        std::make_pair("bert_gelu_tanh", "--preset tiny-bert --hidden-act gelu_new"),
        std::make_pair("bert_relu_f16", "--preset tiny-bert --hidden-act relu --dtype f16"),
        std::make_pair("bert_bf16", "--preset tiny-bert --dtype bf16 --seed 3"),
        std::make_pair("xlmr_mean", "--preset tiny-xlmr"),
        std::make_pair("xlmr_cls", "--preset tiny-xlmr --pooling cls --normalize 0"),
        std::make_pair("bert_ce", "--preset tiny-bert-ce"),
        std::make_pair("xlmr_ce", "--preset tiny-xlmr-ce")),
    [](const auto& info) { return info.param.first; });

// int8 and bf16 against fp32 on a model of bge-small's real shape.
TEST(EncoderPrecisionTest, Int8AndBf16StayCloseToFp32OnRealShapes) {
  if (!HaveNumpy()) GTEST_SKIP() << "needs /usr/bin/python3 with numpy (python3-numpy)";
  for (const auto& [name, args] :
       {std::make_pair("bge_small", "--preset bge-small"),
        std::make_pair("minilm_ce", "--preset ms-marco-minilm-l6")}) {
    const auto dir = MakeModel(name, args);
    auto f32 = Encoder::Load(dir, {Precision::kF32, 2});
    ASSERT_TRUE(f32.ok()) << f32.status().ToString();
    const ModelConfig& c = (*f32)->config();
    const auto seqs = RandomSeqs(c, {3, 12, 64, 200, 256}, false, 7);
    const std::vector<float> ref = RunEncoder(**f32, seqs);
    const int dim = (*f32)->output_dim();
    for (Precision p : {Precision::kInt8, Precision::kBF16}) {
      if (!PrecisionSupported(p)) continue;
      auto enc = Encoder::Load(dir, {p, 2});
      ASSERT_TRUE(enc.ok()) << enc.status().ToString();
      const std::vector<float> got = RunEncoder(**enc, seqs);
      for (size_t s = 0; s < seqs.size(); ++s) {
        if (c.task == Task::kClassification) {
          EXPECT_NEAR(got[s], ref[s], 0.05 * std::max(1.0f, std::fabs(ref[s])))
              << name << " " << PrecisionName(p);
          continue;
        }
        double dot = 0, na = 0, nb = 0;
        for (int d = 0; d < dim; ++d) {
          dot += static_cast<double>(got[s * dim + d]) * ref[s * dim + d];
          na += static_cast<double>(got[s * dim + d]) * got[s * dim + d];
          nb += static_cast<double>(ref[s * dim + d]) * ref[s * dim + d];
        }
        EXPECT_GE(dot / std::sqrt(na * nb), 0.99) << name << " " << PrecisionName(p) << " seq " << s;
      }
    }
  }
}

TEST(EncoderErrorsTest, BadInputsAndFolders) {
  if (!HaveNumpy()) GTEST_SKIP() << "needs /usr/bin/python3 with numpy (python3-numpy)";
  const auto dir = MakeModel("bert_cls", "--preset tiny-bert");
  auto enc = Encoder::Load(dir, {Precision::kF32, 1});
  ASSERT_TRUE(enc.ok());
  std::vector<float> out(64);
  std::vector<int32_t> empty, too_long(1000, 5), bad_id = {1, 999999}, ok = {1, 2};
  std::vector<int32_t> bad_type = {0, 7};
  EXPECT_EQ((*enc)->Run(std::vector<EncoderInput>{{empty, {}}}, out.data()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_NE((*enc)->Run(std::vector<EncoderInput>{{too_long, {}}}, out.data()).message().find("longer"),
            std::string::npos);
  EXPECT_NE((*enc)->Run(std::vector<EncoderInput>{{bad_id, {}}}, out.data()).message().find("vocabulary"),
            std::string::npos);
  EXPECT_NE((*enc)->Run(std::vector<EncoderInput>{{ok, bad_type}}, out.data()).message().find("type"),
            std::string::npos);

  // A copy of the folder with one tensor of the wrong shape, and one without weights.
  const auto broken = Scratch() / "broken";
  std::filesystem::remove_all(broken);
  std::filesystem::copy(dir, broken, std::filesystem::copy_options::recursive);
  std::filesystem::remove(broken / "model.safetensors");
  auto missing = Encoder::Load(broken, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("model.safetensors"), std::string::npos);
  {
    auto cfg = nlohmann::json::parse(*ReadFileToString(dir / "config.json"));
    cfg["intermediate_size"] = 48;
    std::ofstream(broken / "config.json") << cfg.dump();
    std::filesystem::copy(dir / "model.safetensors", broken / "model.safetensors");
  }
  auto shape = Encoder::Load(broken, {});
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("intermediate.dense.weight"), std::string::npos)
      << shape.status().message();
}

}  // namespace
}  // namespace quarry::model
