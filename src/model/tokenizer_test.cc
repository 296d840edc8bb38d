// Tokenizer tests. The golden ids under tests/data/tokenizer/ come from
// independent implementations (Hugging Face tokenizers for WordPiece, the
// SentencePiece Python binding + fairseq's id layout for XLM-R); see
// tools/tokenizer_goldens/. Every comparison is exact.
#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/sentencepiece_tokenizer.h"
#include "model/wordpiece.h"

namespace quarry::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path DataDir() { return fs::path(QUARRY_SOURCE_DIR) / "tests" / "data" / "tokenizer"; }

json ReadJson(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

void WriteFile(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::unique_ptr<Tokenizer> MustLoad(const fs::path& dir) {
  auto result = Tokenizer::Load(dir);
  if (!result.ok()) {
    ADD_FAILURE() << "Load(" << dir << "): " << result.status().ToString();
    return nullptr;
  }
  return std::move(result).value();
}

std::vector<int32_t> Ids(const json& j) { return j.get<std::vector<int32_t>>(); }

Truncation ParseStrategy(const std::string& s) {
  if (s == "only_first") return Truncation::kOnlyFirst;
  if (s == "only_second") return Truncation::kOnlySecond;
  return Truncation::kLongestFirst;
}

std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out.size() > 120 ? out.substr(0, 120) + "..." : out;
}

// A fresh empty folder under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("quarry_tok_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---- Golden comparisons ----

class GoldenTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = DataDir() / GetParam();
    golden_ = ReadJson(dir_ / "golden.json");
    tokenizer_ = MustLoad(dir_);
    ASSERT_NE(tokenizer_, nullptr);
    texts_ = golden_["texts"].get<std::vector<std::string>>();
  }

  fs::path dir_;
  json golden_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<std::string> texts_;
};

TEST_P(GoldenTest, TokenizeMatchesReference) {
  const json& cases = golden_["tokenize"];
  ASSERT_EQ(cases.size(), texts_.size());
  ASSERT_GE(texts_.size(), 60u);
  int failures = 0;
  for (size_t i = 0; i < texts_.size(); ++i) {
    const std::vector<int32_t> expected = Ids(cases[i]["ids"]);
    const std::vector<int32_t> got = tokenizer_->Tokenize(texts_[i]);
    if (got != expected) {
      ++failures;
      ADD_FAILURE() << "text " << i << " '" << Printable(texts_[i]) << "'\n  expected "
                    << ::testing::PrintToString(expected) << "\n  got      "
                    << ::testing::PrintToString(got)
                    << (cases[i].contains("tokens") ? "\n  tokens   " + cases[i]["tokens"].dump()
                                                    : std::string());
    }
  }
  EXPECT_EQ(failures, 0);
}

// Token ids given by the caller (OpenAI's token-array input) get the same
// special tokens and truncation as text.
TEST_P(GoldenTest, EncodeIdsOfTokenizeEqualsEncode) {
  for (const json& c : golden_["encode"]) {
    const size_t index = c["text"].get<size_t>();
    const size_t max_length = c["max_length"].get<size_t>();
    const Encoding want = tokenizer_->Encode(texts_[index], max_length);
    const Encoding got = tokenizer_->EncodeIds(tokenizer_->Tokenize(texts_[index]), max_length);
    EXPECT_EQ(got.ids, want.ids) << "text " << index << " max_length " << max_length;
    EXPECT_EQ(got.type_ids, want.type_ids) << "text " << index;
  }
}

TEST_P(GoldenTest, EncodeMatchesReference) {
  const json& cases = golden_["encode"];
  ASSERT_FALSE(cases.empty());
  for (const json& c : cases) {
    const size_t index = c["text"].get<size_t>();
    const size_t max_length = c["max_length"].get<size_t>();
    const Encoding e = tokenizer_->Encode(texts_[index], max_length);
    EXPECT_EQ(e.ids, Ids(c["ids"])) << "text " << index << " max_length " << max_length;
    EXPECT_EQ(e.type_ids, Ids(c["type_ids"])) << "text " << index;
    EXPECT_LE(e.ids.size(), max_length);
  }
}

TEST_P(GoldenTest, EncodePairMatchesReference) {
  const json& cases = golden_["pairs"];
  const json& inputs = golden_["pair_inputs"];
  ASSERT_FALSE(cases.empty());
  int checked = 0;
  int fallbacks = 0;
  for (const json& c : cases) {
    const size_t index = c["pair"].get<size_t>();
    const std::string a = inputs[index][0].get<std::string>();
    const std::string b = inputs[index][1].get<std::string>();
    const size_t max_length = c["max_length"].get<size_t>();
    const Truncation strategy = ParseStrategy(c["strategy"].get<std::string>());
    const Encoding e = tokenizer_->EncodePair(a, b, max_length, strategy);
    EXPECT_EQ(e.ids.size(), e.type_ids.size());
    EXPECT_LE(e.ids.size(), max_length) << "pair " << index << " max_length " << max_length;
    if (c.contains("hf_error")) {
      // HF refuses (the sequence to cut is too short); Quarry falls back to
      // longest_first.
      const Encoding fallback =
          tokenizer_->EncodePair(a, b, max_length, Truncation::kLongestFirst);
      EXPECT_EQ(e.ids, fallback.ids);
      EXPECT_EQ(e.type_ids, fallback.type_ids);
      ++fallbacks;
      continue;
    }
    EXPECT_EQ(e.ids, Ids(c["ids"])) << "pair " << index << " max_length " << max_length
                                    << " strategy " << c["strategy"];
    EXPECT_EQ(e.type_ids, Ids(c["type_ids"])) << "pair " << index << " max_length "
                                              << max_length << " strategy " << c["strategy"];
    ++checked;
  }
  EXPECT_GT(checked, 200);
  EXPECT_GT(fallbacks, 0);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, GoldenTest,
                         ::testing::Values("wordpiece_uncased", "wordpiece_cased",
                                           "wordpiece_vocab", "wordpiece_vocab_cased", "xlmr"));

// ---- Kinds, sizes, special tokens ----

TEST(TokenizerTest, WordPieceBasics) {
  auto t = MustLoad(DataDir() / "wordpiece_uncased");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->pad_id(), 0);
  EXPECT_EQ(t->num_special_tokens_single(), 2u);
  EXPECT_EQ(t->vocab_size(), 4569u);
  const Encoding e = t->Encode("hello world", 512);
  ASSERT_EQ(e.ids.size(), 4u);
  EXPECT_EQ(e.ids.front(), 2);  // [CLS]
  EXPECT_EQ(e.ids.back(), 3);   // [SEP]
  // Exactly the special tokens when max_length leaves no room.
  EXPECT_EQ(t->Encode("hello world", 2).ids, (std::vector<int32_t>{2, 3}));
  const Encoding p = t->EncodePair("hello", "world", 3);
  EXPECT_EQ(p.ids, (std::vector<int32_t>{2, 3, 3}));
  EXPECT_EQ(p.type_ids, (std::vector<int32_t>{0, 0, 1}));
}

TEST(TokenizerTest, CasedTokenizerCountsAddedTokens) {
  auto t = MustLoad(DataDir() / "wordpiece_cased");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), 4571u);  // vocab + <ent> + [RS]
}

TEST(TokenizerTest, XlmRobertaLayout) {
  auto t = MustLoad(DataDir() / "xlmr");
  ASSERT_NE(t, nullptr);
  const size_t sp_size = ReadJson(DataDir() / "xlmr" / "golden.json")["sp_vocab_size"];
  EXPECT_EQ(t->pad_id(), 1);
  EXPECT_EQ(t->vocab_size(), sp_size + 2);
  EXPECT_EQ(t->num_special_tokens_single(), 2u);
  EXPECT_EQ(t->Tokenize("<mask>"), (std::vector<int32_t>{static_cast<int32_t>(sp_size) + 1}));
  EXPECT_EQ(t->Tokenize("<s></s><pad><unk>"), (std::vector<int32_t>{0, 2, 1, 3}));
  const Encoding e = t->Encode("", 8);
  EXPECT_EQ(e.ids, (std::vector<int32_t>{0, 2}));
  const Encoding p = t->EncodePair("", "", 8);
  EXPECT_EQ(p.ids, (std::vector<int32_t>{0, 2, 2, 2}));
  EXPECT_EQ(p.type_ids, (std::vector<int32_t>{0, 0, 0, 0}));
}

TEST(TokenizerTest, SentencePieceDetectedWithoutConfig) {
  TempDir dir;
  fs::copy_file(DataDir() / "xlmr" / "sentencepiece.bpe.model",
                dir.path() / "sentencepiece.bpe.model");
  auto t = MustLoad(dir.path());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->pad_id(), 1);
  // A non-WordPiece tokenizer.json beside the model (as in XLM-R folders).
  WriteFile(dir.path() / "tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  t = MustLoad(dir.path());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->pad_id(), 1);
}

TEST(TokenizerTest, TokenizerJsonPreferredOverVocabTxt) {
  TempDir dir;
  fs::copy_file(DataDir() / "wordpiece_cased" / "tokenizer.json", dir.path() / "tokenizer.json");
  fs::copy_file(DataDir() / "wordpiece_vocab" / "vocab.txt", dir.path() / "vocab.txt");
  auto t = MustLoad(dir.path());
  ASSERT_NE(t, nullptr);
  auto cased = MustLoad(DataDir() / "wordpiece_cased");
  ASSERT_NE(cased, nullptr);
  EXPECT_EQ(t->Tokenize("Hello World"), cased->Tokenize("Hello World"));
  EXPECT_EQ(t->vocab_size(), 4571u);
}

TEST(TokenizerTest, VocabTxtWithoutConfigDefaultsToLowerCase) {
  TempDir dir;
  fs::copy_file(DataDir() / "wordpiece_vocab" / "vocab.txt", dir.path() / "vocab.txt");
  auto t = MustLoad(dir.path());
  auto reference = MustLoad(DataDir() / "wordpiece_vocab");
  ASSERT_NE(t, nullptr);
  ASSERT_NE(reference, nullptr);
  for (const char* s : {"Hello World", "CAFÉ Ångström", "中文"}) {
    EXPECT_EQ(t->Tokenize(s), reference->Tokenize(s)) << s;
  }
}

// ---- Error paths ----

class LoadErrorTest : public ::testing::Test {
 protected:
  Status LoadStatus() { return Tokenizer::Load(dir_.path()).status(); }
  void ExpectError(std::string_view needle) {
    const Status s = LoadStatus();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.ToString();
  }
  TempDir dir_;
};

TEST_F(LoadErrorTest, MissingFolder) {
  const Status s = Tokenizer::Load(dir_.path() / "nope").status();
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
}

TEST_F(LoadErrorTest, EmptyFolder) {
  const Status s = LoadStatus();
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("tokenizer.json"), std::string::npos);
}

TEST_F(LoadErrorTest, MalformedTokenizerJson) {
  WriteFile(dir_.path() / "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", ");
  ExpectError("tokenizer.json: not valid JSON");
  WriteFile(dir_.path() / "tokenizer.json", "[1, 2, 3]");
  ExpectError("tokenizer.json: not a JSON object");
  WriteFile(dir_.path() / "tokenizer.json", "{}");
  ExpectError("tokenizer.json: model must be an object");
}

TEST_F(LoadErrorTest, UnsupportedModelType) {
  WriteFile(dir_.path() / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {}}})");
  const Status s = LoadStatus();
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("tokenizer.json: model.type 'BPE' is not supported"),
            std::string::npos)
      << s.ToString();
}

TEST_F(LoadErrorTest, WrongFieldTypesInTokenizerJson) {
  json base = ReadJson(DataDir() / "wordpiece_uncased" / "tokenizer.json");
  struct Case {
    const char* pointer;
    json value;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {"/model/vocab", json::array(), "model.vocab"},
      {"/model/vocab/hello", "x", "model.vocab['hello']"},
      {"/model/unk_token", 5, "model.unk_token"},
      {"/model/unk_token", "[NOPE]", "unk_token '[NOPE]' is not in the vocabulary"},
      {"/model/max_input_chars_per_word", -3, "max_input_chars_per_word"},
      {"/normalizer/lowercase", "yes", "normalizer.lowercase"},
      {"/normalizer/type", "NFKC", "normalizer.type 'NFKC' is not supported"},
      {"/pre_tokenizer/type", "Whitespace", "pre_tokenizer.type 'Whitespace'"},
      {"/post_processor/type", "ByteLevel", "post_processor.type 'ByteLevel'"},
      {"/post_processor/single", json::object(), "post_processor.single"},
      {"/post_processor/special_tokens", json::object(), "post_processor.special_tokens"},
      {"/added_tokens", 7, "added_tokens"},
      {"/added_tokens/0/id", "zero", "added_tokens[0].id"},
      {"/added_tokens/1/content", "", "added_tokens[1].content"},
      {"/added_tokens/2/lstrip", 1, "added_tokens[2].lstrip"},
  };
  for (const Case& c : cases) {
    json j = base;
    j[json::json_pointer(c.pointer)] = c.value;
    WriteFile(dir_.path() / "tokenizer.json", j.dump());
    const Status s = LoadStatus();
    EXPECT_FALSE(s.ok()) << c.pointer;
    EXPECT_NE(s.message().find(c.needle), std::string::npos) << c.pointer << ": " << s.ToString();
    EXPECT_NE(s.message().find("tokenizer.json"), std::string::npos) << s.ToString();
  }
}

TEST_F(LoadErrorTest, TruncatedTokenizerJsonNeverCrashes) {
  std::ifstream in(DataDir() / "wordpiece_uncased" / "tokenizer.json", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string full = ss.str();
  for (size_t len : {size_t{0}, size_t{1}, size_t{100}, full.size() / 2, full.size() - 1}) {
    WriteFile(dir_.path() / "tokenizer.json", full.substr(0, len));
    EXPECT_FALSE(LoadStatus().ok()) << len;
  }
}

TEST_F(LoadErrorTest, BadVocabTxt) {
  WriteFile(dir_.path() / "vocab.txt", "");
  ExpectError("vocab.txt: empty vocabulary");
  WriteFile(dir_.path() / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nbad\xff\n");
  ExpectError("vocab.txt: line 5 is not valid UTF-8");
  WriteFile(dir_.path() / "vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
  ExpectError("unk_token '[UNK]' is not in the vocabulary");
  WriteFile(dir_.path() / "vocab.txt", "[PAD]\n[UNK]\nhello\n");
  ExpectError("vocab.txt: the vocabulary lacks '[CLS]'");
}

TEST_F(LoadErrorTest, BadTokenizerConfig) {
  fs::copy_file(DataDir() / "wordpiece_vocab" / "vocab.txt", dir_.path() / "vocab.txt");
  WriteFile(dir_.path() / "tokenizer_config.json", "{not json");
  ExpectError("tokenizer_config.json: not valid JSON");
  WriteFile(dir_.path() / "tokenizer_config.json", R"({"do_lower_case": "true"})");
  ExpectError("tokenizer_config.json: do_lower_case must be true or false");
  WriteFile(dir_.path() / "tokenizer_config.json", R"({"unk_token": {"content": "[UNK]"}})");
  EXPECT_TRUE(LoadStatus().ok()) << LoadStatus().ToString();
}

TEST_F(LoadErrorTest, BadConfigJsonAndSentencePieceModel) {
  WriteFile(dir_.path() / "config.json", "{\"model_type\": ");
  ExpectError("config.json: not a valid JSON object");
  WriteFile(dir_.path() / "config.json", R"({"model_type": "xlm-roberta"})");
  ExpectError("sentencepiece.bpe.model: not found");
  WriteFile(dir_.path() / "sentencepiece.bpe.model", "this is not a protobuf \x01\x02\x03");
  ExpectError("sentencepiece.bpe.model: not a valid SentencePiece model");
  WriteFile(dir_.path() / "sentencepiece.bpe.model", "");
  EXPECT_FALSE(LoadStatus().ok());
}

// ---- Invalid UTF-8 and hostile input ----

TEST(TokenizerTest, InvalidUtf8ReadsAsReplacementCharacter) {
  for (const char* name : {"wordpiece_uncased", "wordpiece_cased", "xlmr"}) {
    auto t = MustLoad(DataDir() / name);
    ASSERT_NE(t, nullptr);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"ab\xff" "cd", "ab\xEF\xBF\xBD" "cd"},
        {"caf\xc3", "caf\xEF\xBF\xBD"},                                    // truncated sequence
        {"x\xc0\xafy", "x\xEF\xBF\xBD\xEF\xBF\xBDy"},                      // overlong
        {"x\xed\xa0\x80y", "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy"},      // surrogate
        {"\xe4\xb8 mid", "\xEF\xBF\xBD\xEF\xBF\xBD mid"},
        {"[MASK]\xfe<mask>", "[MASK]\xEF\xBF\xBD<mask>"},
    };
    for (const auto& [bad, repaired] : cases) {
      EXPECT_EQ(t->Tokenize(bad), t->Tokenize(repaired)) << name << " " << Printable(bad);
    }
  }
  // BertNormalizer's clean_text drops U+FFFD, so invalid bytes vanish.
  auto t = MustLoad(DataDir() / "wordpiece_uncased");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Tokenize("hel\xfflo"), t->Tokenize("hello"));
}

TEST(TokenizerTest, RandomBytesNeverCrash) {
  std::vector<std::unique_ptr<Tokenizer>> all;
  for (const char* name : {"wordpiece_uncased", "wordpiece_cased", "wordpiece_vocab_cased",
                           "xlmr"}) {
    all.push_back(MustLoad(DataDir() / name));
    ASSERT_NE(all.back(), nullptr);
  }
  std::mt19937 rng(42);
  const std::string alphabet[] = {"a", "Z", " ", "[MASK]", "<mask>", "\xc3\xa9", "\xe4\xb8\xad",
                                  "\xf0\x9f\x98\x80", "##", "[RS]", "<ent>", "\t", "\x00", "!"};
  for (int iter = 0; iter < 1500; ++iter) {
    std::string s;
    const int len = static_cast<int>(rng() % 64);
    for (int i = 0; i < len; ++i) {
      if (rng() % 2) {
        s.push_back(static_cast<char>(rng() & 0xFF));
      } else {
        s += alphabet[rng() % std::size(alphabet)];
      }
    }
    for (const auto& t : all) {
      const Encoding e = t->Encode(s, 16);
      EXPECT_LE(e.ids.size(), 16u);
      for (int32_t id : e.ids) {
        EXPECT_GE(id, 0);
        EXPECT_LT(static_cast<size_t>(id), t->vocab_size());
      }
      const Encoding p = t->EncodePair(s, s, 9, static_cast<Truncation>(iter % 3));
      EXPECT_LE(p.ids.size(), 9u);
    }
  }
}

TEST(TokenizerTest, VeryLongInput) {
  auto t = MustLoad(DataDir() / "wordpiece_uncased");
  ASSERT_NE(t, nullptr);
  std::string word(100, 'a');
  EXPECT_NE(t->Tokenize(word), t->Tokenize(word + "a"));
  EXPECT_EQ(t->Tokenize(word + "a"), t->Tokenize("[UNK]"));
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "The quick brown fox. ";
  EXPECT_EQ(t->Tokenize(big).size(), 20000u * 5);
  EXPECT_EQ(t->Encode(big, 512).ids.size(), 512u);
}

// ---- Truncation rule ----

TEST(TokenizerTest, TruncationLengthsFollowHf) {
  size_t a = 0;
  size_t b = 0;
  internal::TruncationLengths(5, 5, 7, Truncation::kLongestFirst, &a, &b);
  EXPECT_EQ(a, 3u);  // HF keeps budget/2 of the first, the rest of the second
  EXPECT_EQ(b, 4u);
  internal::TruncationLengths(10, 3, 8, Truncation::kLongestFirst, &a, &b);
  EXPECT_EQ(a, 5u);
  EXPECT_EQ(b, 3u);
  internal::TruncationLengths(10, 3, 0, Truncation::kOnlyFirst, &a, &b);
  EXPECT_EQ(a + b, 0u);
  internal::TruncationLengths(10, 3, 8, Truncation::kOnlySecond, &a, &b);
  EXPECT_EQ(a + b, 8u);  // too short for only_second: longest_first
  internal::TruncationLengths(10, 3, 8, Truncation::kOnlyFirst, &a, &b);
  EXPECT_EQ(a, 5u);
  EXPECT_EQ(b, 3u);
}

// ---- Thread-safety ----

TEST(TokenizerTest, EncodeFromFourThreads) {
  for (const char* name : {"wordpiece_uncased", "xlmr"}) {
    auto t = MustLoad(DataDir() / name);
    ASSERT_NE(t, nullptr);
    const auto texts = ReadJson(DataDir() / name / "golden.json")["texts"]
                           .get<std::vector<std::string>>();
    std::vector<Encoding> expected;
    for (const auto& s : texts) expected.push_back(t->EncodePair(s, s + " tail", 48));
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k) {
      threads.emplace_back([&, k] {
        for (int round = 0; round < 20; ++round) {
          for (size_t i = 0; i < texts.size(); ++i) {
            const size_t j = (i + static_cast<size_t>(k) * 7) % texts.size();
            const Encoding e = t->EncodePair(texts[j], texts[j] + " tail", 48);
            if (e.ids != expected[j].ids || e.type_ids != expected[j].type_ids) ++mismatches[k];
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int k = 0; k < 4; ++k) EXPECT_EQ(mismatches[k], 0) << name << " thread " << k;
  }
}

// Not a test: prints encoding throughput. Run with
//   quarry_tokenizer_test --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
TEST(TokenizerTest, DISABLED_Throughput) {
  const std::string prose =
      "This program is free software: you can redistribute it and/or modify it under the "
      "terms of the GNU General Public License as published by the Free Software Foundation, "
      "either version 3 of the License, or (at your option) any later version. This program "
      "is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; without "
      "even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. ";
  std::string doc;
  for (int i = 0; i < 4; ++i) doc += prose;
  for (const char* name : {"wordpiece_uncased", "wordpiece_cased", "xlmr"}) {
    auto t = MustLoad(DataDir() / name);
    ASSERT_NE(t, nullptr);
    size_t tokens = 0;
    size_t bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3000; ++i) {
      tokens += t->Tokenize(doc).size();
      bytes += doc.size();
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-20s %.2f M tokens/s  %.1f MB/s\n", name, tokens / s / 1e6, bytes / s / 1e6);
  }
}

}  // namespace
}  // namespace quarry::model
