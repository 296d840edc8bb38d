// libFuzzer target: ParseMarkdown on arbitrary bytes, then the Chunker over the
// result. Traps when the loader breaks its contract (text not valid UTF-8,
// sections out of order or out of range) or a chunk's offsets do not match its
// text (chunk.text == doc.text.substr(begin, end - begin)).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_checks.h"
#include "text/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  quarry::Result<quarry::Document> result = quarry::text::ParseMarkdown(bytes, "dir/page.md");
  if (!result.ok()) return 0;
  quarry::fuzz::CheckDocumentAndChunks(*result, data, size);
  return 0;
}
