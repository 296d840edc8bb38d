// libFuzzer target: ParseJsonlLine on arbitrary bytes. Traps when an accepted
// record breaks the loader contract (empty id, invalid UTF-8 text, sections
// outside the text). Exceptions escaping the loader abort the fuzzer on their own.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "text/analyzer.h"
#include "text/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  quarry::Result<quarry::Document> result = quarry::text::ParseJsonlLine(line, "corpus.jsonl:1");
  if (!result.ok()) {
    if (result.status().message().empty()) __builtin_trap();
    return 0;
  }
  const quarry::Document& doc = *result;
  if (doc.doc_id.empty() || !quarry::text::IsValidUtf8(doc.text) ||
      !quarry::text::IsValidUtf8(doc.title) || !quarry::text::IsValidUtf8(doc.doc_id)) {
    __builtin_trap();
  }
  for (const quarry::SectionSpan& section : doc.sections) {
    if (section.begin > section.end || section.end > doc.text.size()) __builtin_trap();
  }
  // The analyzer sees the same text at ingest; it must not fail either.
  static const quarry::text::Analyzer analyzer;
  (void)analyzer.Analyze(doc.title + " " + doc.text);
  return 0;
}
