// Chunker: splits a Document into Chunks bounded by a token budget.
//
// Splitting order: section boundaries always split; inside a section the text is
// packed greedily paragraph by paragraph; a paragraph over budget is split at
// sentence ends (. ! ? followed by space, or newline), and a sentence over budget
// at word boundaries (a word over budget: hard split at a UTF-8 boundary).
// Consecutive chunks of one section overlap by about `overlap_tokens` (whole
// sentences/words taken from the end of the previous chunk). Chunks never start
// or end with whitespace, and every chunk's [begin, end) is a valid range of
// Document::text with text == Document::text.substr(begin, end - begin).
// Empty sections produce no chunk; a document with no text produces a single
// chunk holding the title if there is one, else none.
//
// Thread-safety: Chunk() is const and reentrant.
#ifndef QUARRY_TEXT_CHUNKER_H_
#define QUARRY_TEXT_CHUNKER_H_

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "quarry/types.h"

namespace quarry::text {

// Counts tokens of a piece of text. The default approximates a BERT WordPiece
// count without a vocabulary (documented in chunker.cc); a real tokenizer can
// be plugged in later.
using TokenCounter = std::function<size_t(std::string_view)>;
size_t ApproxWordPieceCount(std::string_view text);

struct ChunkerOptions {
  size_t max_tokens = 256;
  size_t overlap_tokens = 32;
  TokenCounter token_counter;  // empty = ApproxWordPieceCount
};

class Chunker {
 public:
  explicit Chunker(ChunkerOptions options = {});
  // REQUIRES: doc.text valid UTF-8 and doc.sections within it.
  std::vector<Chunk> Split(const Document& doc) const;

 private:
  ChunkerOptions options_;
};

}  // namespace quarry::text

#endif  // QUARRY_TEXT_CHUNKER_H_
