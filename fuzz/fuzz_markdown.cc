// libFuzzer target: ParseMarkdown on arbitrary bytes, then the Chunker over the
// result. Traps when the loader breaks its contract (text not valid UTF-8,
// sections out of order or out of range) or a chunk's offsets do not match its
// text (chunk.text == doc.text.substr(begin, end - begin)).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "text/analyzer.h"
#include "text/chunker.h"
#include "text/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  quarry::Result<quarry::Document> result = quarry::text::ParseMarkdown(bytes, "dir/page.md");
  if (!result.ok()) return 0;
  const quarry::Document& doc = *result;
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
  // A small budget exercises sentence, word and hard splits.
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
  return 0;
}
