#include "text/chunker.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "text/analyzer.h"
#include "text/utf8.h"

namespace quarry::text {
namespace {

ChunkerOptions Options(size_t max_tokens, size_t overlap_tokens, TokenCounter counter = {}) {
  ChunkerOptions options;
  options.max_tokens = max_tokens;
  options.overlap_tokens = overlap_tokens;
  options.token_counter = std::move(counter);
  return options;
}

Document MakeDoc(std::string text, std::vector<SectionSpan> sections = {}) {
  Document doc;
  doc.doc_id = "doc";
  doc.source = "src.md";
  doc.title = "Title";
  doc.text = std::move(text);
  doc.sections = std::move(sections);
  return doc;
}

size_t WordCount(std::string_view text) {
  size_t count = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = internal::IsAsciiSpace(c);
    if (!space && !in_word) ++count;
    in_word = !space;
  }
  return count;
}

// The invariants every chunking must satisfy.
void ExpectValidChunks(const Document& doc, const std::vector<Chunk>& chunks, size_t budget,
                       const TokenCounter& counter = ApproxWordPieceCount) {
  uint64_t prev_begin = 0;
  for (size_t chunk_idx = 0; chunk_idx < chunks.size(); ++chunk_idx) {
    const Chunk& chunk = chunks[chunk_idx];
    SCOPED_TRACE("chunk " + std::to_string(chunk_idx));
    EXPECT_EQ(chunk.chunk_index, chunk_idx);
    EXPECT_EQ(chunk.doc_id, doc.doc_id);
    EXPECT_EQ(chunk.title, doc.title);
    ASSERT_LT(chunk.begin, chunk.end);
    ASSERT_LE(chunk.end, doc.text.size());
    EXPECT_EQ(chunk.text, doc.text.substr(chunk.begin, chunk.end - chunk.begin));
    EXPECT_FALSE(internal::IsAsciiSpace(chunk.text.front()));
    EXPECT_FALSE(internal::IsAsciiSpace(chunk.text.back()));
    EXPECT_TRUE(IsValidUtf8(chunk.text));
    EXPECT_LE(counter(chunk.text), budget) << chunk.text;
    EXPECT_GE(chunk.begin, prev_begin);
    prev_begin = chunk.begin;
  }
}

TEST(ApproxWordPieceCountTest, Approximation) {
  EXPECT_EQ(ApproxWordPieceCount(""), 0u);
  EXPECT_EQ(ApproxWordPieceCount("   \n\t"), 0u);
  EXPECT_EQ(ApproxWordPieceCount("the cat sat"), 3u);
  EXPECT_EQ(ApproxWordPieceCount("Hello, world!"), 4u);       // hello , world !
  EXPECT_EQ(ApproxWordPieceCount("internationalization"), 4u);  // 20 letters
  EXPECT_EQ(ApproxWordPieceCount("123456"), 2u);
  EXPECT_EQ(ApproxWordPieceCount("p53"), 2u);
  EXPECT_EQ(ApproxWordPieceCount("東京都"), 3u);
  EXPECT_EQ(ApproxWordPieceCount("café"), 1u);
  // Additive over whitespace.
  EXPECT_EQ(ApproxWordPieceCount("alpha beta, gamma."),
            ApproxWordPieceCount("alpha") + ApproxWordPieceCount("beta,") +
                ApproxWordPieceCount("gamma."));
}

TEST(ChunkerTest, SmallDocumentIsOneChunk) {
  Document doc = MakeDoc("  Hello world.\n\nSecond paragraph.  ");
  std::vector<Chunk> chunks = Chunker().Split(doc);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "Hello world.\n\nSecond paragraph.");
  EXPECT_EQ(chunks[0].begin, 2u);
  EXPECT_EQ(chunks[0].section, "");
  EXPECT_EQ(chunks[0].source, "src.md");
  ExpectValidChunks(doc, chunks, 256);
}

TEST(ChunkerTest, EmptyDocument) {
  Document doc = MakeDoc("");
  std::vector<Chunk> chunks = Chunker().Split(doc);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "Title");
  EXPECT_EQ(chunks[0].begin, 0u);
  EXPECT_EQ(chunks[0].end, 0u);
  doc.title.clear();
  EXPECT_TRUE(Chunker().Split(doc).empty());
  Document blank = MakeDoc(" \n\n ");
  blank.title.clear();
  EXPECT_TRUE(Chunker().Split(blank).empty());
}

TEST(ChunkerTest, PacksParagraphsGreedily) {
  // Paragraphs of 4 words each; a budget of 10 fits two of them.
  Document doc = MakeDoc("a1 b1 c1 d1\n\na2 b2 c2 d2\n\na3 b3 c3 d3\n\na4 b4 c4 d4");
  std::vector<Chunk> chunks =
      Chunker(Options(20, 0)).Split(doc);
  // Each "xN" is 2 tokens (letter run + digit run): 8 per paragraph.
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, "a1 b1 c1 d1\n\na2 b2 c2 d2");
  EXPECT_EQ(chunks[1].text, "a3 b3 c3 d3\n\na4 b4 c4 d4");
  ExpectValidChunks(doc, chunks, 20);
}

TEST(ChunkerTest, SplitsLongParagraphAtSentencesWithOverlap) {
  std::string text;
  for (int sentence = 0; sentence < 20; ++sentence) {
    text += "Sentence number " + std::string(1, static_cast<char>('a' + sentence)) +
            " has some words. ";
  }
  Document doc = MakeDoc(text);
  ChunkerOptions options = Options(30, 8);
  std::vector<Chunk> chunks = Chunker(options).Split(doc);
  ASSERT_GT(chunks.size(), 3u);
  ExpectValidChunks(doc, chunks, 30);
  for (size_t chunk_idx = 0; chunk_idx < chunks.size(); ++chunk_idx) {
    // Chunks end at sentence ends and start at sentence starts.
    EXPECT_EQ(chunks[chunk_idx].text.back(), '.');
    EXPECT_EQ(chunks[chunk_idx].text.rfind("Sentence", 0), 0u) << chunks[chunk_idx].text;
    if (chunk_idx > 0) {
      // Overlap: exactly one whole sentence (8 tokens) is repeated.
      const Chunk& prev = chunks[chunk_idx - 1];
      EXPECT_LT(chunks[chunk_idx].begin, prev.end);
      EXPECT_GT(chunks[chunk_idx].begin, prev.begin);
      const std::string overlap =
          doc.text.substr(chunks[chunk_idx].begin, prev.end - chunks[chunk_idx].begin);
      EXPECT_EQ(ApproxWordPieceCount(overlap), 8u) << overlap;
      EXPECT_EQ(overlap.rfind("Sentence number", 0), 0u) << overlap;
    }
  }
  EXPECT_EQ(chunks.back().end, doc.text.size() - 1);
}

TEST(ChunkerTest, EveryChunkCarriesTheDocumentMetadata) {
  std::string text;
  for (int sentence = 0; sentence < 20; ++sentence) text += "Some sentence with words. ";
  Document doc = MakeDoc(text);
  doc.metadata = R"({"lang":"en"})";
  std::vector<Chunk> chunks = Chunker(Options(30, 8)).Split(doc);
  ASSERT_GT(chunks.size(), 1u);
  for (const Chunk& chunk : chunks) EXPECT_EQ(chunk.metadata, doc.metadata);
  Document title_only = MakeDoc("   ");  // the title-only chunk too
  title_only.metadata = "{\"a\":1}";
  std::vector<Chunk> one = Chunker().Split(title_only);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].metadata, "{\"a\":1}");
}

TEST(ChunkerTest, OverlapFallsBackToWords) {
  std::string text;
  for (int word = 0; word < 200; ++word) text += "word ";
  Document doc = MakeDoc(text);
  std::vector<Chunk> chunks =
      Chunker(Options(50, 10)).Split(doc);
  ExpectValidChunks(doc, chunks, 50);
  ASSERT_GT(chunks.size(), 3u);
  for (size_t chunk_idx = 0; chunk_idx + 1 < chunks.size(); ++chunk_idx) {
    EXPECT_EQ(WordCount(chunks[chunk_idx].text), 50u);
    const Chunk& next = chunks[chunk_idx + 1];
    EXPECT_EQ(WordCount(doc.text.substr(next.begin, chunks[chunk_idx].end - next.begin)), 10u);
  }
}

TEST(ChunkerTest, HardSplitsOversizedWords) {
  std::string text = "start " + std::string(1000, 'x') + " " + std::string(300, '.') + " end";
  text += " 東京都東京都東京都東京都東京都東京都";
  Document doc = MakeDoc(text);
  std::vector<Chunk> chunks =
      Chunker(Options(16, 0)).Split(doc);
  ExpectValidChunks(doc, chunks, 16);
  std::string joined;
  for (const Chunk& chunk : chunks) joined += chunk.text;
  size_t non_space = 0;
  for (char c : text) non_space += internal::IsAsciiSpace(c) ? 0 : 1;
  EXPECT_EQ(joined.size(), non_space);  // no overlap: every byte exactly once
}

TEST(ChunkerTest, SectionBoundariesAlwaysSplit) {
  const std::string text = "Intro\n\nIntro body.\n\nSetup\n\nSetup body.\n\n\n";
  Document doc = MakeDoc(text, {{"Intro", 0, 18}, {"Intro > Setup", 20, 38}});
  ASSERT_EQ(text.substr(20, 18), "Setup\n\nSetup body.");
  std::vector<Chunk> chunks = Chunker().Split(doc);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, "Intro\n\nIntro body.");
  EXPECT_EQ(chunks[0].section, "Intro");
  EXPECT_EQ(chunks[1].text, "Setup\n\nSetup body.");
  EXPECT_EQ(chunks[1].section, "Intro > Setup");
  EXPECT_EQ(chunks[1].chunk_index, 1u);
  ExpectValidChunks(doc, chunks, 256);
}

TEST(ChunkerTest, BadSectionsAreClamped) {
  Document doc = MakeDoc("one two three four", {{"a", 4, 100}, {"b", 2, 9}, {"c", 9, 3}});
  std::vector<Chunk> chunks = Chunker().Split(doc);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "two three four");
  ExpectValidChunks(doc, chunks, 256);
}

TEST(ChunkerTest, CustomTokenCounter) {
  auto words = [](std::string_view s) { return WordCount(s); };
  std::string text;
  for (int word = 0; word < 100; ++word) text += "w" + std::to_string(word) + " ";
  Document doc = MakeDoc(text);
  std::vector<Chunk> chunks =
      Chunker(Options(10, 2, words))
          .Split(doc);
  ExpectValidChunks(doc, chunks, 10, words);
  EXPECT_EQ(chunks.size(), 13u);  // 10 + 12 * 8 >= 100
  EXPECT_EQ(chunks[1].text.rfind("w8 w9 w10", 0), 0u);
}

// Property test: random documents of words, punctuation, unicode, paragraphs
// and sections; every invariant holds and no content is lost.
TEST(ChunkerTest, PropertyRandomDocuments) {
  std::mt19937 rng(12345);
  const std::vector<std::string> atoms = {
      "alpha", "be", "x", "Sentence.", "end!", "why?", "東京", "café", "🙂", "--",
      "supercalifragilisticexpialidocious", "1234567890", std::string(80, 'z'), "(paren)"};
  const std::vector<std::string> gaps = {" ", " ", " ", "  ", "\n", "\n\n", "\n \n", "\t"};
  for (int trial = 0; trial < 500; ++trial) {
    std::string text;
    const int length = std::uniform_int_distribution<int>(0, 400)(rng);
    for (int atom_idx = 0; atom_idx < length; ++atom_idx) {
      text += atoms[rng() % atoms.size()];
      text += gaps[rng() % gaps.size()];
    }
    // Random sections at whitespace boundaries.
    std::vector<SectionSpan> sections;
    size_t pos = 0;
    while (pos < text.size() && rng() % 4 != 0) {
      size_t end = std::min(text.size(), pos + rng() % 600);
      while (end < text.size() && !internal::IsAsciiSpace(text[end])) ++end;
      sections.push_back({"s" + std::to_string(sections.size()), pos, end});
      pos = internal::Utf8CeilBoundary(text, end + rng() % 3);
    }
    Document doc = MakeDoc(text, sections);
    const size_t budget = 1 + rng() % 64;
    const size_t overlap = rng() % 16;
    std::vector<Chunk> chunks =
        Chunker(Options(budget, overlap)).Split(doc);
    SCOPED_TRACE("trial " + std::to_string(trial));
    if (text.find_first_not_of(" \n\t") == std::string::npos) continue;
    ExpectValidChunks(doc, chunks, budget);
    // Coverage: every non-space byte inside a section is in some chunk.
    std::vector<bool> covered(text.size(), false);
    for (const Chunk& chunk : chunks) {
      for (uint64_t byte = chunk.begin; byte < chunk.end; ++byte) covered[byte] = true;
    }
    const std::vector<SectionSpan> effective =
        sections.empty() ? std::vector<SectionSpan>{{"", 0, text.size()}} : sections;
    size_t missing = 0;
    for (const SectionSpan& section : effective) {
      for (size_t byte = section.begin; byte < section.end && byte < text.size(); ++byte) {
        if (!internal::IsAsciiSpace(text[byte]) && !covered[byte]) ++missing;
      }
    }
    EXPECT_EQ(missing, 0u);
    // No chunk crosses a section boundary.
    for (const Chunk& chunk : chunks) {
      bool inside = false;
      for (const SectionSpan& section : effective) {
        if (chunk.begin >= section.begin && chunk.end <= section.end &&
            chunk.section == section.path) {
          inside = true;
        }
      }
      EXPECT_TRUE(inside) << chunk.begin << "-" << chunk.end;
    }
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace quarry::text
