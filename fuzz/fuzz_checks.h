// Shared checks of the loader fuzz targets: a parsed Document must keep the
// loader contract (valid UTF-8, ordered in-range sections), and the Chunker over
// it must keep its own (exact offsets, budget). Traps on any violation.
#ifndef QUARRY_FUZZ_FUZZ_CHECKS_H_
#define QUARRY_FUZZ_FUZZ_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "text/analyzer.h"
#include "text/chunker.h"
#include "quarry/types.h"

namespace quarry::fuzz {

// `data`/`size` are the fuzz input; its first bytes pick the chunk budget and
// overlap so small budgets exercise sentence, word and hard splits.
inline void CheckDocumentAndChunks(const quarry::Document& doc, const uint8_t* data, size_t size) {
  if (!quarry::text::IsValidUtf8(doc.text) || !quarry::text::IsValidUtf8(doc.title)) {
    __builtin_trap();
  }
  size_t prev_end = 0;
  for (const quarry::SectionSpan& section : doc.sections) {
    if (section.begin < prev_end || section.end <= section.begin ||
        section.end > doc.text.size() || !quarry::text::IsValidUtf8(section.path)) {
      __builtin_trap();
    }
    prev_end = section.end;
  }
  const size_t budget = 1 + (size > 0 ? data[0] % 48 : 0);
  quarry::text::ChunkerOptions options;
  options.max_tokens = budget;
  options.overlap_tokens = size > 1 ? data[1] % 12 : 0;
  const quarry::text::Chunker chunker(options);
  const std::vector<quarry::Chunk> chunks = chunker.Split(doc);
  for (size_t chunk_idx = 0; chunk_idx < chunks.size(); ++chunk_idx) {
    const quarry::Chunk& chunk = chunks[chunk_idx];
    if (chunk.chunk_index != chunk_idx) __builtin_trap();
    if (chunk.begin == chunk.end) {
      // Only the title-only chunk of a document without text.
      if (chunk.text != doc.title || chunks.size() != 1) __builtin_trap();
      continue;
    }
    if (chunk.begin > chunk.end || chunk.end > doc.text.size()) __builtin_trap();
    if (std::string_view(doc.text).substr(chunk.begin, chunk.end - chunk.begin) != chunk.text) {
      __builtin_trap();
    }
    if (quarry::text::ApproxWordPieceCount(chunk.text) > budget) __builtin_trap();
  }
}

}  // namespace quarry::fuzz

#endif  // QUARRY_FUZZ_FUZZ_CHECKS_H_
