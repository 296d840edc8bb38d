#include "model/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "model/model_config.h"

namespace quarry::model {
namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("quarry_st_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& header, const std::string& data) {
    std::string path = (dir_ / "model.safetensors").string();
    std::ofstream f(path, std::ios::binary);
    uint64_t n = header.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << header << data;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(SafetensorsTest, ReadsEveryFloatType) {
  // 1.5, -2.0, 0.0 as f32, f16 and bf16.
  std::string data;
  const float f32[3] = {1.5f, -2.0f, 0.0f};
  data.append(reinterpret_cast<const char*>(f32), 12);
  const uint16_t f16[3] = {0x3e00, 0xc000, 0x0000};
  data.append(reinterpret_cast<const char*>(f16), 6);
  const uint16_t bf16[3] = {0x3fc0, 0xc000, 0x0000};
  data.append(reinterpret_cast<const char*>(bf16), 6);
  nlohmann::json h = {
      {"a", {{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 12}}}},
      {"b", {{"dtype", "F16"}, {"shape", {1, 3}}, {"data_offsets", {12, 18}}}},
      {"c", {{"dtype", "BF16"}, {"shape", {3}}, {"data_offsets", {18, 24}}}},
      {"__metadata__", {{"format", "pt"}}}};
  auto file = SafetensorsFile::Open(Write(h.dump(), data));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  std::vector<float> v;
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE((*file)->ReadFloat(name, {}, &v).ok()) << name;
    EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f, 0.0f})) << name;
  }
  EXPECT_EQ((*file)->tensors().size(), 3u);
  Status s = (*file)->ReadFloat("a", {2, 2}, &v);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("expected [2, 2]"), std::string::npos) << s.message();
  EXPECT_TRUE((*file)->ReadFloat("missing", {}, &v).IsNotFound());
}

TEST_F(SafetensorsTest, HalfConversionsAreExact) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    const uint32_t exp = (h >> 10) & 0x1f;
    if (exp == 31) continue;  // inf / nan
    const float mant = static_cast<float>(h & 0x3ff);
    const float expect = (exp == 0 ? std::ldexp(mant, -24)
                                   : std::ldexp(1.0f + mant / 1024.0f, static_cast<int>(exp) - 15)) *
                         ((h & 0x8000) ? -1.0f : 1.0f);
    ASSERT_EQ(f, expect) << std::hex << h;
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1e4f, 1e4f);
  for (int i = 0; i < 10000; ++i) {
    const float f = dist(rng);
    const float back = Bf16ToFloat(FloatToBf16(f));
    ASSERT_LE(std::fabs(back - f), std::fabs(f) * (1.0f / 256)) << f;
  }
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
}

TEST_F(SafetensorsTest, RejectsMalformedFiles) {
  const std::string data(16, '\0');
  auto expect_error = [&](const std::string& header, const std::string& what) {
    auto file = SafetensorsFile::Open(Write(header, data));
    ASSERT_FALSE(file.ok()) << header;
    EXPECT_NE(file.status().message().find(what), std::string::npos)
        << header << " -> " << file.status().message();
  };
  expect_error("not json", "not a JSON object");
  expect_error("[1,2]", "not a JSON object");
  expect_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,17]}})", "outside");
  expect_error(R"({"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}})", "bytes for shape");
  expect_error(R"({"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}})", "unknown dtype");
  expect_error(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}})", "bad shape");
  expect_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,4]}})", "outside");
  expect_error(R"({"a":{"dtype":"F32","shape":[4]}})", "needs dtype");
  expect_error(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})",
               "overflows");
  // Header length beyond the file.
  std::string path = (dir_ / "short.safetensors").string();
  {
    std::ofstream f(path, std::ios::binary);
    uint64_t n = 1000;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << "{}";
  }
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("exceeds"), std::string::npos);
  EXPECT_FALSE(SafetensorsFile::Open(dir_ / "absent.safetensors").ok());
}

TEST_F(SafetensorsTest, RejectsNonFiniteWeights) {
  const float v[2] = {1.0f, std::nanf("")};
  std::string data(reinterpret_cast<const char*>(v), 8);
  auto file =
      SafetensorsFile::Open(Write(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data));
  ASSERT_TRUE(file.ok());
  std::vector<float> out;
  Status s = (*file)->ReadFloat("a", {}, &out);
  EXPECT_NE(s.message().find("NaN"), std::string::npos) << s.message();
}

TEST_F(SafetensorsTest, RandomCorruptionNeverCrashes) {
  std::string data(64, '\1');
  const std::string header =
      R"({"w":{"dtype":"F16","shape":[4,8],"data_offsets":[0,64]},"__metadata__":{"x":"y"}})";
  std::mt19937 rng(11);
  int opened = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string h = header;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) h[rng() % h.size()] = static_cast<char>(rng() % 128);
    auto file = SafetensorsFile::Open(Write(h, data));
    if (file.ok()) {
      ++opened;
      std::vector<float> out;
      for (const auto& [name, view] : (*file)->tensors()) {
        ASSERT_LE(view.bytes, data.size());
        (void)(*file)->ReadFloat(name, {}, &out);
      }
    }
  }
  EXPECT_GT(opened, 0);
}

TEST_F(SafetensorsTest, ModelConfigErrorsNameTheField) {
  auto write = [&](const std::string& name, const std::string& text) {
    std::filesystem::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << text;
  };
  EXPECT_TRUE(LoadModelConfig(dir_).status().IsNotFound());
  write("config.json", "{");
  EXPECT_NE(LoadModelConfig(dir_).status().message().find("not valid JSON"), std::string::npos);
  write("config.json", R"({"model_type":"gpt2"})");
  EXPECT_NE(LoadModelConfig(dir_).status().message().find("gpt2"), std::string::npos);
  const std::string base =
      R"("model_type":"bert","vocab_size":100,"hidden_size":32,"num_hidden_layers":2,)"
      R"("intermediate_size":64,"max_position_embeddings":64)";
  write("config.json", "{" + base + "}");
  EXPECT_NE(LoadModelConfig(dir_).status().message().find("num_attention_heads"),
            std::string::npos);
  write("config.json", "{" + base + R"(,"num_attention_heads":5})");
  EXPECT_NE(LoadModelConfig(dir_).status().message().find("divisible"), std::string::npos);
  write("config.json", "{" + base + R"(,"num_attention_heads":4,"hidden_act":"swish"})");
  EXPECT_NE(LoadModelConfig(dir_).status().message().find("swish"), std::string::npos);
  write("config.json", "{" + base + R"(,"num_attention_heads":4,"architectures":["BertForQA"]})");
  EXPECT_NE(LoadModelConfig(dir_).status().message().find("BertForQA"), std::string::npos);
  write("config.json", "{" + base + R"(,"num_attention_heads":4})");
  auto ok = LoadModelConfig(dir_);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->pooling, Pooling::kCls);
  EXPECT_FALSE(ok->normalize);
  EXPECT_EQ(ok->max_seq_length, 64);
  write("modules.json",
        R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},)"
        R"({"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},)"
        R"({"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])");
  write("1_Pooling/config.json", R"({"word_embedding_dimension":32,"pooling_mode_mean_tokens":true})");
  write("sentence_bert_config.json", R"({"max_seq_length":48})");
  ok = LoadModelConfig(dir_);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->pooling, Pooling::kMean);
  EXPECT_TRUE(ok->normalize);
  EXPECT_EQ(ok->max_seq_length, 48);
  write("1_Pooling/config.json", R"({"pooling_mode_max_tokens":true})");
  EXPECT_NE(LoadModelConfig(dir_).status().message().find("only cls"), std::string::npos);
  write("1_Pooling/config.json", R"({"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":true})");
  EXPECT_NE(LoadModelConfig(dir_).status().message().find("exactly one"), std::string::npos);
}

}  // namespace
}  // namespace quarry::model
