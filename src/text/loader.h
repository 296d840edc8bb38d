// Loaders: turn files (HTML, Markdown, plain text, JSONL in BEIR format) into
// Documents with extracted plain text and a heading structure.
//
// Parse* functions work on bytes in memory and are the fuzzing surface: they
// never crash, hang or read out of bounds, whatever the input; they return an
// error Status for input they refuse (binary data, empty input, JSON that is not
// a BEIR record). Text is always valid UTF-8 on success (RepairUtf8).
//
// Thread-safety: all functions are reentrant.
#ifndef QUARRY_TEXT_LOADER_H_
#define QUARRY_TEXT_LOADER_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "quarry/status.h"
#include "quarry/types.h"

namespace quarry::text {

enum class Format { kUnknown, kHtml, kMarkdown, kText, kJsonl };

// By extension: .html/.htm/.xhtml -> kHtml; .md/.markdown -> kMarkdown;
// .txt/.text/.rst/(no extension) -> kText; .jsonl/.ndjson -> kJsonl; else kUnknown.
Format DetectFormat(const std::filesystem::path& path);

// True when the bytes look binary (a NUL byte, or many control/invalid bytes in
// the first 8 KiB).
bool LooksBinary(std::string_view bytes);

// HTML via Gumbo: drops script/style/nav/header/footer/aside/noscript/template,
// keeps <title> (falls back to the first <h1>), headings h1..h6 start sections,
// <pre>/<code> blocks verbatim, link text, list items and table cells as text.
// Block elements end paragraphs. Deep nesting (10k+ levels) must not overflow
// the stack: walk iteratively. Also dropped: elements with role=navigation/
// banner/contentinfo/search/complementary, the `hidden` attribute, or a
// boilerplate class (DocBook navheader/navfooter, Sphinx sphinxsidebar/related/
// headerlink, Read-the-Docs breadcrumbs/footer buttons, ...). A <header>
// inside <article>/<main> is kept (it holds the article's <h1>). A title like
// "Page — Site docs" whose first <h1> is "Page" becomes "Page"; with neither
// <title> nor <h1> the title is the file stem of `source`. Nesting deeper than
// 512 levels is flattened before parsing (Gumbo is quadratic in depth).
Result<Document> ParseHtml(std::string_view bytes, std::string source);

// Markdown: ATX (#) and setext headings start sections (path = heading stack),
// fenced code blocks kept verbatim, front matter (--- ... ---) skipped, inline
// markup (emphasis, links -> link text, images -> alt text) reduced to text.
// Title: front-matter `title:`, else the first level-1 heading, else file stem.
Result<Document> ParseMarkdown(std::string_view bytes, std::string source);

// Plain text: paragraphs are blank-line separated; title = first non-empty line
// (trimmed, at most 200 bytes); one section with an empty path.
Result<Document> ParseText(std::string_view bytes, std::string source);

// One BEIR JSONL record: {"_id": "...", "title": "...", "text": "..."}; `_id`
// required (string or number), `title` optional, `text` required. An optional
// `metadata` object becomes Document::metadata (compact JSON; {} is none).
// Extra keys are ignored.
Result<Document> ParseJsonlLine(std::string_view line, std::string source);

// Called once per document a file yields. A non-OK return stops the walk of
// that file and is returned by LoadFile.
using DocumentSink = std::function<Status(Document&&)>;

struct LoadFileStats {
  uint64_t documents = 0;
  uint64_t bad_lines = 0;          // JSONL lines skipped (malformed/truncated)
  std::string first_bad_line_error;  // "path:LINE: reason" of the first one
};

// Reads `path`, detects its format and feeds documents to `sink`. For files
// other than JSONL the doc_id and source are the path as given. For JSONL each
// valid line is one document (source "path:LINE"); bad lines are counted and
// skipped, not fatal. Files larger than `max_bytes` are refused. Returns
// InvalidArgument for binary/empty/unknown-format/too-large files, NotFound
// when the file does not exist, IOError when unreadable.
Status LoadFile(const std::filesystem::path& path, const DocumentSink& sink,
                LoadFileStats* stats, uint64_t max_bytes = 256ull << 20);

}  // namespace quarry::text

#endif  // QUARRY_TEXT_LOADER_H_
