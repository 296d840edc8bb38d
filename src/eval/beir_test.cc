#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "eval/beir.h"

namespace quarry::eval {
namespace {

TEST(MetricsTest, HandComputedValues) {
  std::map<std::string, int> relevant = {{"d1", 2}, {"d3", 1}, {"d9", 0}};
  std::vector<std::string> ranked = {"d3", "d2", "d1", "d9"};
  // DCG = 1/log2(2) + 2/log2(4) = 1 + 1 = 2; IDCG = 2/log2(2) + 1/log2(3).
  double ideal = 2.0 + 1.0 / std::log2(3.0);
  EXPECT_NEAR(NdcgAt(ranked, relevant, 10), 2.0 / ideal, 1e-12);
  EXPECT_NEAR(NdcgAt(ranked, relevant, 1), 1.0 / 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(RecallAt(ranked, relevant, 100), 1.0);
  EXPECT_DOUBLE_EQ(RecallAt(ranked, relevant, 2), 0.5);
  EXPECT_DOUBLE_EQ(MrrAt(ranked, relevant, 10), 1.0);
  EXPECT_DOUBLE_EQ(MrrAt({"x", "y", "d1"}, relevant, 10), 1.0 / 3);
  EXPECT_DOUBLE_EQ(MrrAt({"x", "y", "d1"}, relevant, 2), 0.0);
  EXPECT_DOUBLE_EQ(NdcgAt({}, relevant, 10), 0.0);
  EXPECT_DOUBLE_EQ(NdcgAt({"d1", "d3"}, relevant, 10), 1.0);
}

TEST(QrelsTest, ParsesWithAndWithoutHeader) {
  auto qrels = ParseQrels("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\r\nq2\td1\t0\n");
  ASSERT_TRUE(qrels.ok());
  EXPECT_EQ((*qrels)["q1"]["d2"], 2);
  EXPECT_EQ((*qrels)["q2"]["d1"], 0);
  EXPECT_TRUE(ParseQrels("q1\td1\t1\n").ok());
  EXPECT_FALSE(ParseQrels("q1\td1\t1\nq2 d2 1\n").ok());
  EXPECT_FALSE(ParseQrels("q1\td1\t1\nq2\td2\tmany\n").ok());
}

TEST(BeirTest, RejectsFolderThatIsNotBeir) {
  auto dir = std::filesystem::temp_directory_path() / ("quarry_beir_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto result = LoadBeir(dir);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("not a BEIR folder"), std::string::npos);
  EXPECT_NE(result.status().message().find("corpus.jsonl"), std::string::npos);

  std::ofstream(dir / "corpus.jsonl") << "{\"_id\":\"d1\",\"text\":\"x\"}\n";
  std::ofstream(dir / "queries.jsonl") << "{\"_id\":\"q1\",\"text\":\"x\"}\n{\"_id\":\"q2\",\"text\":\"y\"}\n";
  std::filesystem::create_directories(dir / "qrels");
  std::ofstream(dir / "qrels" / "test.tsv") << "query-id\tcorpus-id\tscore\nq2\td1\t1\n";
  auto ok = LoadBeir(dir);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->queries.size(), 1u);
  EXPECT_EQ(ok->queries[0].id, "q2");

  std::ofstream(dir / "queries.jsonl") << "not json\n";
  EXPECT_FALSE(LoadBeir(dir).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace quarry::eval
