// Plain value types shared by the public API: documents, chunks, hits.
//
// Thread-safety: plain structs, no internal synchronisation.
#ifndef QUARRY_TYPES_H_
#define QUARRY_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace quarry {

// A section of a document's extracted text: [begin, end) byte offsets into
// Document::text, and the heading path that leads to it ("Intro > Setup").
struct SectionSpan {
  std::string path;
  size_t begin = 0;
  size_t end = 0;
};

// The largest Document::metadata, as compact JSON.
inline constexpr size_t kMaxMetadataBytes = 64 * 1024;

// A document after loading: plain UTF-8 text plus its structure.
// Paragraphs inside `text` are separated by a blank line ("\n\n"); code
// blocks are kept verbatim as their own paragraphs.
struct Document {
  std::string doc_id;  // stable key: BEIR `_id`, or the source path for files
  std::string source;  // where it came from (file path; for JSONL "path:LINE")
  std::string title;
  std::string text;                   // valid UTF-8
  std::vector<SectionSpan> sections;  // ordered, non-overlapping, within text
  // User metadata: a JSON object as text ("" = none). Every chunk of the
  // document carries it; filters reach it by key path (quarry/query.h).
  std::string metadata = {};
};

// A retrievable unit: a piece of one document's text.
struct Chunk {
  std::string doc_id;
  std::string source;
  std::string title;
  std::string section;  // heading path
  std::string text;
  uint32_t chunk_index = 0;  // position within the document
  uint64_t begin = 0;        // byte offsets into Document::text
  uint64_t end = 0;
  std::string metadata = {};  // the document's metadata (JSON object text, "" = none)
};

// One search result: a chunk and its score.
struct SearchHit {
  uint64_t point_id = 0;
  float score = 0.0f;
  Chunk chunk;
};

}  // namespace quarry

#endif  // QUARRY_TYPES_H_
