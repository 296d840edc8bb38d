#include "text/analyzer.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace quarry::text {
namespace {

using Terms = std::vector<std::string>;

AnalyzerOptions Options(bool remove_stop_words, bool stem, std::string language = "english") {
  AnalyzerOptions options;
  options.remove_stop_words = remove_stop_words;
  options.stem = stem;
  options.stemmer_language = std::move(language);
  return options;
}

TEST(AnalyzerTest, StemsAndDropsStopWords) {
  Analyzer analyzer;
  EXPECT_EQ(analyzer.Analyze("The cats are running into the houses"),
            (Terms{"cat", "run", "hous"}));
  EXPECT_EQ(analyzer.Analyze("Connected connections connecting"),
            (Terms{"connect", "connect", "connect"}));
}

TEST(AnalyzerTest, EveryLuceneStopWordIsDropped) {
  Analyzer analyzer;
  const char* kStop =
      "a an and are as at be but by for if in into is it no not of on or such that the "
      "their then there these they this to was will with";
  EXPECT_TRUE(analyzer.Analyze(kStop).empty());
  // Upper case stop words are folded first.
  EXPECT_TRUE(analyzer.Analyze("THE And Of").empty());
  // Words that are not in the Lucene set are kept.
  EXPECT_EQ(analyzer.Analyze("we have been"), (Terms{"we", "have", "been"}));
}

TEST(AnalyzerTest, OptionsDisableStopWordsAndStemming) {
  Analyzer plain(Options(false, false));
  EXPECT_EQ(plain.Analyze("The Running cats"), (Terms{"the", "running", "cats"}));
  EXPECT_FALSE(plain.stemmer_available());
  Analyzer unknown(Options(true, true, "klingon"));
  EXPECT_FALSE(unknown.stemmer_available());
  EXPECT_EQ(unknown.Analyze("running"), (Terms{"running"}));
  Analyzer german(Options(false, true, "german"));
  EXPECT_TRUE(german.stemmer_available());
  EXPECT_EQ(german.Analyze("Häuser"), (Terms{"haus"}));
}

TEST(AnalyzerTest, PossessivesAndApostrophes) {
  Analyzer analyzer;
  EXPECT_EQ(analyzer.Analyze("John's book"), (Terms{"john", "book"}));
  EXPECT_EQ(analyzer.Analyze("John\u2019s book"), (Terms{"john", "book"}));
  EXPECT_EQ(analyzer.Analyze("don't"), (Terms{"dont"}));
  // "it's" -> "it", a stop word.
  EXPECT_TRUE(analyzer.Analyze("it's").empty());
  // Quotes around words are not apostrophes inside a word.
  EXPECT_EQ(analyzer.Analyze("'quoted' words'"), (Terms{"quot", "word"}));
}

TEST(AnalyzerTest, SplitsOnPunctuationKeepsNumbers) {
  Analyzer analyzer;
  EXPECT_EQ(analyzer.Analyze("COVID-19 p53 IL-6/STAT3"),
            (Terms{"covid", "19", "p53", "il", "6", "stat3"}));
  EXPECT_EQ(analyzer.Analyze("p < 0.05 and 1,000 cells; v1.2."),
            (Terms{"p", "0.05", "1,000", "cell", "v1.2"}));
  EXPECT_EQ(analyzer.Analyze("end.Start"), (Terms{"end", "start"}));
  EXPECT_EQ(analyzer.Analyze("snake_case"), (Terms{"snake", "case"}));
}

TEST(AnalyzerTest, UnicodeCaseFoldingAndAccents) {
  Analyzer analyzer(Options(true, false));
  EXPECT_EQ(analyzer.Analyze("Café NAÏVE Ångström"), (Terms{"cafe", "naive", "angstrom"}));
  // Decomposed input (e + combining acute) matches the composed form.
  EXPECT_EQ(analyzer.Analyze("cafe\u0301"), (Terms{"cafe"}));
  // German sharp s case-folds to "ss"; Greek final sigma folds to sigma.
  EXPECT_EQ(analyzer.Analyze("STRASSE straße"), (Terms{"strasse", "strasse"}));
  EXPECT_EQ(analyzer.Analyze("ΟΔΟΣ οδος"), (Terms{"οδοσ", "οδοσ"}));
  // NFKC: full-width letters, ligatures, superscripts.
  EXPECT_EQ(analyzer.Analyze("ＡＢＣ ﬁle x²"), (Terms{"abc", "file", "x2"}));
  // Non-Latin scripts are kept as words.
  EXPECT_EQ(analyzer.Analyze("Москва 東京"), (Terms{"москва", "東京"}));
  // Symbols and emoji separate words.
  EXPECT_EQ(analyzer.Analyze("a→b 🙂c"), (Terms{"b", "c"}));
}

TEST(AnalyzerTest, InvalidUtf8NeverFails) {
  Analyzer analyzer;
  const std::string bad = std::string("good\xFF\xFEwords\xC3") + "\x28 end\xE2\x82";
  EXPECT_EQ(analyzer.Analyze(bad), (Terms{"good", "word", "end"}));
  const std::string nul("abc\0def", 7);
  EXPECT_EQ(analyzer.Analyze(nul), (Terms{"abc", "def"}));
  EXPECT_TRUE(analyzer.Analyze("").empty());
  EXPECT_TRUE(analyzer.Analyze("!!! ... ???").empty());
}

TEST(AnalyzerTest, DropsOverlongTokens) {
  Analyzer analyzer(Options(true, false));
  EXPECT_EQ(analyzer.Analyze(std::string(65, 'x') + " short " + std::string(64, 'y')),
            (Terms{"short", std::string(64, 'y')}));
}

TEST(AnalyzerTest, AppendsToExistingTerms) {
  Analyzer analyzer;
  Terms terms{"keep"};
  analyzer.Analyze("cats", &terms);
  EXPECT_EQ(terms, (Terms{"keep", "cat"}));
}

TEST(AnalyzerTest, ThreadSafeAcrossThreads) {
  Analyzer analyzer;
  const std::string text =
      "Running researchers' studies of the connected networks showed Über-régulation "
      "in 12.5% of mice's cells; it's generalizable.";
  const Terms expected = analyzer.Analyze(text);
  ASSERT_FALSE(expected.empty());
  constexpr int kThreads = 8;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      Terms terms;
      for (int iter = 0; iter < 2000; ++iter) {
        terms.clear();
        analyzer.Analyze(text, &terms);
        if (terms != expected) ++mismatches[thread_idx];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int count : mismatches) EXPECT_EQ(count, 0);
}

TEST(Utf8Test, RepairAndValidate) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("héllo wörld 東京 🙂"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("abc\xE2\x82"));       // truncated
  EXPECT_EQ(RepairUtf8("héllo"), "héllo");
  EXPECT_EQ(RepairUtf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(RepairUtf8(std::string("a\0b", 3)), "ab");
  const std::string repaired = RepairUtf8("\xC0\xAF\xED\xA0\x80x\xE2\x82");
  EXPECT_TRUE(IsValidUtf8(repaired));
  EXPECT_NE(repaired.find('x'), std::string::npos);
}

}  // namespace
}  // namespace quarry::text
