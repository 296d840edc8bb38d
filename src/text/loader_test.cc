#include "text/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "text/analyzer.h"

namespace quarry::text {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// Every section must be an ordered, non-overlapping range of the text.
void ExpectWellFormed(const Document& doc) {
  EXPECT_TRUE(IsValidUtf8(doc.text));
  EXPECT_TRUE(IsValidUtf8(doc.title));
  size_t prev_end = 0;
  for (const SectionSpan& section : doc.sections) {
    EXPECT_LE(prev_end, section.begin);
    EXPECT_LT(section.begin, section.end);
    EXPECT_LE(section.end, doc.text.size());
    EXPECT_TRUE(IsValidUtf8(section.path));
    prev_end = section.end;
  }
}

const SectionSpan* FindSection(const Document& doc, std::string_view path) {
  for (const SectionSpan& section : doc.sections) {
    if (section.path == path) return &section;
  }
  return nullptr;
}

std::string SectionText(const Document& doc, const SectionSpan& section) {
  return doc.text.substr(section.begin, section.end - section.begin);
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("quarry_text_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path Write(const std::string& name, std::string_view bytes) const {
    fs::path file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return file;
  }

 private:
  fs::path path_;
};

// --------------------------------------------------------------------------
// Format detection and binary sniffing

TEST(LoaderTest, DetectFormat) {
  EXPECT_EQ(DetectFormat("a/b.html"), Format::kHtml);
  EXPECT_EQ(DetectFormat("B.HTM"), Format::kHtml);
  EXPECT_EQ(DetectFormat("x.xhtml"), Format::kHtml);
  EXPECT_EQ(DetectFormat("README.md"), Format::kMarkdown);
  EXPECT_EQ(DetectFormat("notes.markdown"), Format::kMarkdown);
  EXPECT_EQ(DetectFormat("notes.txt"), Format::kText);
  EXPECT_EQ(DetectFormat("index.rst"), Format::kText);
  EXPECT_EQ(DetectFormat("LICENSE"), Format::kText);
  EXPECT_EQ(DetectFormat("corpus.jsonl"), Format::kJsonl);
  EXPECT_EQ(DetectFormat("corpus.ndjson"), Format::kJsonl);
  EXPECT_EQ(DetectFormat("image.png"), Format::kUnknown);
}

TEST(LoaderTest, LooksBinary) {
  EXPECT_FALSE(LooksBinary("plain text\nwith lines\n"));
  EXPECT_FALSE(LooksBinary("héllo wörld, 東京"));
  EXPECT_TRUE(LooksBinary(std::string("PK\x03\x04\0\0", 6)));
  std::string noise;
  for (int byte_idx = 0; byte_idx < 4096; ++byte_idx) {
    noise.push_back(static_cast<char>((byte_idx * 131 + 7) % 255 + 1));
  }
  EXPECT_TRUE(LooksBinary(noise));
  // A few stray Latin-1 bytes in English text are not binary.
  EXPECT_FALSE(LooksBinary("caf\xE9 cr\xE8me and a long enough English sentence around them."));
}

// --------------------------------------------------------------------------
// HTML

constexpr char kDocBookHtml[] = R"(<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE html><html><head><title>5.4. Constraints</title>
<style>body { color: red }</style><script>var x = "scripted";</script></head>
<body><div class="navheader"><table><tr><th>5.4. Constraints</th></tr>
<tr><td><a href="prev.html">Prev</a></td><td><a href="up.html">Up</a></td></tr></table></div>
<div class="sect1"><div class="titlepage"><h2 class="title">5.4. Constraints</h2></div>
<p>Data types are a way to limit   the kind of
   data that can be stored.</p>
<div class="sect2"><h3 class="title">5.4.1. Check Constraints</h3>
<p>A check constraint is the most <em>generic</em> type, see <a href="x.html">CREATE TABLE</a>.</p>
<pre class="programlisting">CREATE TABLE products (
    price numeric CHECK (price &gt; 0)
);</pre>
<ul><li>first item</li><li>second&nbsp;item</li></ul>
<table><tr><td>cell one</td><td>cell two</td></tr></table>
</div></div>
<div class="navfooter"><a href="next.html">Next</a> 5.5. System Columns</div>
</body></html>)";

TEST(HtmlTest, DocBookStructureAndBoilerplate) {
  Result<Document> result = ParseHtml(kDocBookHtml, "ddl-constraints.html");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const Document& doc = *result;
  ExpectWellFormed(doc);
  EXPECT_EQ(doc.title, "5.4. Constraints");
  EXPECT_EQ(doc.source, "ddl-constraints.html");
  // Boilerplate, scripts and styles are gone.
  EXPECT_FALSE(Contains(doc.text, "Prev"));
  EXPECT_FALSE(Contains(doc.text, "Next"));
  EXPECT_FALSE(Contains(doc.text, "System Columns"));
  EXPECT_FALSE(Contains(doc.text, "scripted"));
  EXPECT_FALSE(Contains(doc.text, "color"));
  // Inline whitespace is collapsed, link text kept.
  EXPECT_TRUE(Contains(doc.text, "Data types are a way to limit the kind of data that can be stored."));
  EXPECT_TRUE(Contains(doc.text, "most generic type, see CREATE TABLE."));
  // Code is verbatim and its own paragraph.
  EXPECT_TRUE(Contains(doc.text,
                       "\n\nCREATE TABLE products (\n    price numeric CHECK (price > 0)\n);"));
  EXPECT_TRUE(Contains(doc.text, "first item\nsecond item"));
  EXPECT_TRUE(Contains(doc.text, "cell one cell two"));
  EXPECT_EQ(doc.text.substr(0, 17), "5.4. Constraints\n");
  EXPECT_FALSE(Contains(doc.text, "\n\n\n"));

  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(doc.sections[0].path, "5.4. Constraints");
  EXPECT_EQ(doc.sections[1].path, "5.4. Constraints > 5.4.1. Check Constraints");
  EXPECT_EQ(SectionText(doc, doc.sections[1]).substr(0, 25), "5.4.1. Check Constraints\n");
  EXPECT_EQ(doc.sections[1].end, doc.text.size());
}

TEST(HtmlTest, SphinxStructureAndTitleSuffix) {
  const char* html = R"(<!DOCTYPE html><html><head>
<title>XFRM Syscall &mdash; The Linux Kernel  documentation</title></head>
<body><nav class="wy-nav-side"><ul><li><a href="a.html">A guide to the Kernel</a></li></ul></nav>
<div role="navigation" aria-label="Page navigation"><ul class="wy-breadcrumbs"><li>Networking</li></ul></div>
<div class="sphinxsidebar">Quick search</div><div class="related">previous | next</div>
<div role="main"><section id="xfrm"><h1>XFRM Syscall<a class="headerlink" href="#xfrm">¶</a></h1>
<p>Intro text.</p>
<section><h2>/proc/sys/net/core/xfrm_* Variables:<a class="headerlink" href="#v">¶</a></h2>
<dl><dt>xfrm_acq_expires - INTEGER</dt><dd><p>default 30 - hard timeout in seconds</p></dd></dl>
</section><section><h2>Other</h2><h3>Deeper</h3><p>deep text</p></section></section></div>
<footer><div role="contentinfo"><p>&copy; Copyright The kernel development community.</p></div>
Built with Sphinx</footer></body></html>)";
  Result<Document> result = ParseHtml(html, "xfrm_sysctl.html");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const Document& doc = *result;
  ExpectWellFormed(doc);
  EXPECT_EQ(doc.title, "XFRM Syscall");
  for (const char* dropped : {"A guide", "Networking", "Quick search", "previous", "Copyright",
                              "Built with", "\xC2\xB6"}) {
    EXPECT_FALSE(Contains(doc.text, dropped)) << dropped;
  }
  ASSERT_EQ(doc.sections.size(), 4u);
  EXPECT_EQ(doc.sections[0].path, "XFRM Syscall");
  EXPECT_EQ(doc.sections[1].path, "XFRM Syscall > /proc/sys/net/core/xfrm_* Variables:");
  EXPECT_EQ(doc.sections[2].path, "XFRM Syscall > Other");
  EXPECT_EQ(doc.sections[3].path, "XFRM Syscall > Other > Deeper");
  EXPECT_TRUE(Contains(SectionText(doc, doc.sections[1]), "xfrm_acq_expires - INTEGER\n\ndefault 30"));
  EXPECT_EQ(SectionText(doc, doc.sections[3]), "Deeper\n\ndeep text");
}

TEST(HtmlTest, TitleFallsBackToH1ThenFileStem) {
  Result<Document> h1 = ParseHtml("<body><h1>Main  Heading</h1><p>x</p></body>", "dir/page.html");
  ASSERT_TRUE(h1.ok());
  EXPECT_EQ(h1->title, "Main Heading");
  Result<Document> stem = ParseHtml("<p>just text</p>", "dir/some-page.html");
  ASSERT_TRUE(stem.ok());
  EXPECT_EQ(stem->title, "some-page");
  ASSERT_EQ(stem->sections.size(), 1u);
  EXPECT_EQ(stem->sections[0].path, "");
  EXPECT_EQ(stem->text, "just text");
}

TEST(HtmlTest, ArticleHeaderIsKeptPageHeaderDropped) {
  Result<Document> doc = ParseHtml(
      "<header>Site banner</header><article><header><h1>Post title</h1></header>"
      "<p>Body</p></article><aside>related links</aside>",
      "p.html");
  ASSERT_TRUE(doc.ok());
  EXPECT_FALSE(Contains(doc->text, "Site banner"));
  EXPECT_FALSE(Contains(doc->text, "related links"));
  EXPECT_EQ(doc->text, "Post title\n\nBody");
  EXPECT_EQ(doc->title, "Post title");
}

TEST(HtmlTest, DeepNestingDoesNotOverflow) {
  constexpr int kDepth = 100000;
  std::string html;
  html.reserve(kDepth * 11 + 64);
  for (int level = 0; level < kDepth; ++level) html += "<div>";
  html += "deep content";
  for (int level = 0; level < kDepth; ++level) html += "</div>";
  const auto start = std::chrono::steady_clock::now();
  Result<Document> doc = ParseHtml(html, "deep.html");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->text, "deep content");
  EXPECT_LT(seconds, 60.0);

  std::string spans;
  for (int level = 0; level < kDepth; ++level) spans += "<span><b>";
  spans += "x";
  Result<Document> unclosed = ParseHtml(spans, "unclosed.html");
  ASSERT_TRUE(unclosed.ok());
  EXPECT_EQ(unclosed->text, "x");
}

TEST(HtmlTest, HugeSingleLine) {
  std::string html = "<html><body><p>";
  while (html.size() < 10u << 20) html += "lorem ipsum dolor sit amet ";
  html += "</p></body></html>";
  Result<Document> doc = ParseHtml(html, "big.html");
  ASSERT_TRUE(doc.ok());
  EXPECT_GT(doc->text.size(), 10u << 19);
  EXPECT_EQ(doc->text.substr(0, 12), "lorem ipsum ");
}

TEST(HtmlTest, InvalidUtf8AndMalformedMarkup) {
  Result<Document> doc = ParseHtml("<p>bad \xFF\xFE bytes <b>unclosed <i>tags</p><div", "x.html");
  ASSERT_TRUE(doc.ok());
  ExpectWellFormed(*doc);
  EXPECT_TRUE(Contains(doc->text, "bad"));
  EXPECT_TRUE(Contains(doc->text, "unclosed tags"));
  EXPECT_TRUE(Contains(doc->text, "\xEF\xBF\xBD"));
}

TEST(HtmlTest, RefusesEmptyAndBinary) {
  EXPECT_EQ(ParseHtml("", "x.html").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHtml(" \n\t ", "x.html").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHtml(std::string("<p>\0\0\0</p>", 10), "x.html").status().code(),
            StatusCode::kInvalidArgument);
  // Markup without text is a valid, empty document.
  Result<Document> empty = ParseHtml("<script>x</script>", "x.html");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->text.empty());
  EXPECT_TRUE(empty->sections.empty());
}

// Real-world pages, when the Debian doc packages are installed.
TEST(HtmlTest, PostgresManualPage) {
  const fs::path page = "/usr/share/doc/postgresql-doc-15/html/ddl-constraints.html";
  if (!fs::exists(page)) GTEST_SKIP() << "postgresql-doc-15 not installed";
  std::vector<Document> docs;
  LoadFileStats stats;
  Status status = LoadFile(page, [&](Document&& doc) {
    docs.push_back(std::move(doc));
    return Status::OK();
  }, &stats);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(docs.size(), 1u);
  const Document& doc = docs[0];
  ExpectWellFormed(doc);
  EXPECT_EQ(doc.doc_id, page.string());
  EXPECT_EQ(doc.title, "5.4. Constraints");
  EXPECT_EQ(doc.text.substr(0, 16), "5.4. Constraints");
  EXPECT_FALSE(Contains(doc.text, "Prev"));
  EXPECT_FALSE(Contains(doc.text, "5.5. System Columns"));
  EXPECT_TRUE(Contains(doc.text, "CREATE TABLE products (\n    product_no integer,"));
  EXPECT_NE(FindSection(doc, "5.4. Constraints > 5.4.1. Check Constraints"), nullptr);
  EXPECT_NE(FindSection(doc, "5.4. Constraints > 5.4.5. Foreign Keys"), nullptr);
}

TEST(HtmlTest, KernelDocsPage) {
  const fs::path page = "/usr/share/doc/linux-doc-6.1/html/networking/xfrm_sysctl.html";
  if (!fs::exists(page)) GTEST_SKIP() << "linux-doc-6.1 not installed";
  std::vector<Document> docs;
  Status status = LoadFile(page, [&](Document&& doc) {
    docs.push_back(std::move(doc));
    return Status::OK();
  }, nullptr);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(docs.size(), 1u);
  const Document& doc = docs[0];
  EXPECT_EQ(doc.title, "XFRM Syscall");
  EXPECT_EQ(doc.text.substr(0, 12), "XFRM Syscall");
  EXPECT_FALSE(Contains(doc.text, "Kernel Maintainer Handbook"));  // sidebar
  EXPECT_FALSE(Contains(doc.text, "View page source"));            // breadcrumbs
  EXPECT_FALSE(Contains(doc.text, "Copyright"));                   // footer
  EXPECT_NE(FindSection(doc, "XFRM Syscall > /proc/sys/net/core/xfrm_* Variables:"), nullptr);
}

// --------------------------------------------------------------------------
// Markdown

TEST(MarkdownTest, StructureInlineAndCode) {
  const char* md = R"(---
title: "Front Matter Title"
tags: [a, b]
---
# Install Guide

Some *emphasis*, **strong**, `inline code`, a [link](http://x.org/a_(b)) and
![alt text](img.png) plus snake_case and 2 * 3 and <b>html</b> &amp; more.

## Setup

- item one
- [x] item two
1. numbered

```cpp
int main() {
  return 0;  // *not* emphasis
}
```

Setext Heading
--------------

> quoted text

| col a | col b |
|-------|-------|
| 1     | 2     |

### Deep ###
    indented code
[ref]: http://example.com
)";
  Result<Document> result = ParseMarkdown(md, "docs/guide.md");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const Document& doc = *result;
  ExpectWellFormed(doc);
  EXPECT_EQ(doc.title, "Front Matter Title");
  EXPECT_FALSE(Contains(doc.text, "tags:"));
  EXPECT_TRUE(Contains(doc.text,
                       "Some emphasis, strong, inline code, a link and alt text plus snake_case "
                       "and 2 * 3 and html & more."));
  EXPECT_TRUE(Contains(doc.text, "item one\nitem two\nnumbered"));
  EXPECT_TRUE(Contains(doc.text, "\n\nint main() {\n  return 0;  // *not* emphasis\n}\n\n"));
  EXPECT_TRUE(Contains(doc.text, "quoted text"));
  EXPECT_TRUE(Contains(doc.text, "col a col b\n1 2"));
  EXPECT_TRUE(Contains(doc.text, "\n\nindented code"));
  EXPECT_FALSE(Contains(doc.text, "example.com"));
  EXPECT_FALSE(Contains(doc.text, "```"));
  EXPECT_FALSE(Contains(doc.text, "\n\n\n"));

  std::vector<std::string> paths;
  for (const SectionSpan& section : doc.sections) paths.push_back(section.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"Install Guide", "Install Guide > Setup",
                                             "Install Guide > Setext Heading",
                                             "Install Guide > Setext Heading > Deep"}));
  EXPECT_EQ(SectionText(doc, doc.sections[3]), "Deep\n\nindented code");
}

TEST(MarkdownTest, TitleFallbacks) {
  Result<Document> h1 = ParseMarkdown("intro\n\n## Sub\n\n# Real *Title*\n\ntext\n", "a.md");
  ASSERT_TRUE(h1.ok());
  EXPECT_EQ(h1->title, "Real Title");
  EXPECT_EQ(h1->sections.front().path, "");
  Result<Document> stem = ParseMarkdown("no headings here\n", "dir/notes.md");
  ASSERT_TRUE(stem.ok());
  EXPECT_EQ(stem->title, "notes");
}

TEST(MarkdownTest, UnclosedFenceAndCommentsAndCrlf) {
  Result<Document> doc =
      ParseMarkdown("# T\r\n\r\n<!-- hidden\r\ncomment -->\r\ntext\r\n```\r\ncode line\r\n", "a.md");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->text, "T\n\ntext\n\ncode line");
}

TEST(MarkdownTest, PathologicalInlineIsLinear) {
  std::string md;
  while (md.size() < 10u << 20) md += "[[[`` ` ** __ <a ![x](";
  const auto start = std::chrono::steady_clock::now();
  Result<Document> doc = ParseMarkdown(md, "evil.md");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(doc.ok());
  ExpectWellFormed(*doc);
  EXPECT_LT(seconds, 20.0);
}

TEST(MarkdownTest, HugeSingleLineAndInvalidUtf8) {
  std::string md = "# Big\n";
  while (md.size() < 10u << 20) md += "word \xFF *x* ";
  Result<Document> doc = ParseMarkdown(md, "big.md");
  ASSERT_TRUE(doc.ok());
  ExpectWellFormed(*doc);
  EXPECT_GT(doc->text.size(), 5u << 20);
}

TEST(MarkdownTest, RefusesEmptyAndBinary) {
  EXPECT_EQ(ParseMarkdown("", "a.md").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMarkdown(std::string("\x7f" "ELF\0\0", 6), "a.md").status().code(),
            StatusCode::kInvalidArgument);
}

// --------------------------------------------------------------------------
// Plain text

TEST(TextTest, ParagraphsAndTitle) {
  Result<Document> doc =
      ParseText("\n\n  First line title  \nsecond line   \n\n\n\nnext para\r\n", "n.txt");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->title, "First line title");
  EXPECT_EQ(doc->text, "  First line title\nsecond line\n\nnext para");
  ASSERT_EQ(doc->sections.size(), 1u);
  EXPECT_EQ(doc->sections[0].path, "");
  EXPECT_EQ(doc->sections[0].end, doc->text.size());
  Result<Document> long_title = ParseText(std::string(300, 'x') + "\nrest", "n.txt");
  ASSERT_TRUE(long_title.ok());
  EXPECT_EQ(long_title->title.size(), 200u);
}

// --------------------------------------------------------------------------
// JSONL

TEST(JsonlTest, ParsesBeirRecords) {
  Result<Document> doc = ParseJsonlLine(
      R"({"_id": "4983", "title": "Microstructural development", "text": "Alterations of the architecture.", "metadata": {}})",
      "corpus.jsonl:1");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->doc_id, "4983");
  EXPECT_EQ(doc->title, "Microstructural development");
  EXPECT_EQ(doc->text, "Alterations of the architecture.");
  EXPECT_EQ(doc->source, "corpus.jsonl:1");
  ASSERT_EQ(doc->sections.size(), 1u);
  EXPECT_EQ(doc->sections[0].end, doc->text.size());

  Result<Document> numeric = ParseJsonlLine(R"({"_id": 17, "text": "t"})", "s");
  ASSERT_TRUE(numeric.ok());
  EXPECT_EQ(numeric->doc_id, "17");
  EXPECT_EQ(numeric->title, "");
  Result<Document> unicode = ParseJsonlLine(R"({"_id": "u", "text": "caf\u00e9 \u0000x"})", "s");
  ASSERT_TRUE(unicode.ok());
  EXPECT_EQ(unicode->text, "café x");
  EXPECT_EQ(doc->metadata, "");  // {} is no metadata
}

TEST(JsonlTest, MetadataObjectBecomesDocumentMetadata) {
  Result<Document> doc = ParseJsonlLine(
      R"({"_id": "1", "text": "t", "metadata": {"url": "https://x", "year": 2020, "tags": ["a"]}})", "s");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->metadata, R"({"tags":["a"],"url":"https://x","year":2020})");
  Result<Document> null_metadata = ParseJsonlLine(R"({"_id": "1", "text": "t", "metadata": null})", "s");
  ASSERT_TRUE(null_metadata.ok());
  EXPECT_EQ(null_metadata->metadata, "");
  Result<Document> bad = ParseJsonlLine(R"({"_id": "1", "text": "t", "metadata": [1]})", "s");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("metadata"), std::string::npos);
  Result<Document> huge = ParseJsonlLine(
      R"({"_id": "1", "text": "t", "metadata": {"k": ")" + std::string(kMaxMetadataBytes, 'a') + R"("}})", "s");
  ASSERT_FALSE(huge.ok());  // a bad line, skipped by LoadFile, rather than a failed ingest
  EXPECT_NE(huge.status().message().find("larger than"), std::string::npos);
}

TEST(JsonlTest, RejectsMalformedRecords) {
  for (const char* line : {"", "   ", R"({"_id": "1", "text": "trunc)", "[1, 2]", "42",
                           R"({"text": "no id"})", R"({"_id": "1"})",
                           R"({"_id": "1", "text": 5})", R"({"_id": [1], "text": "x"})",
                           R"({"_id": "1", "title": 3, "text": "x"})", R"({"_id": "", "text": "x"})",
                           "{\"_id\": \"1\", \"text\": \"bad \xFF utf8\"}"}) {
    Result<Document> doc = ParseJsonlLine(line, "s");
    EXPECT_FALSE(doc.ok()) << line;
    if (!doc.ok()) {
      EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
      EXPECT_FALSE(doc.status().message().empty());
    }
  }
}

TEST(JsonlTest, LoadFileSkipsBadLines) {
  TempDir dir;
  const fs::path file = dir.Write("corpus.jsonl",
                                  "{\"_id\": \"a\", \"title\": \"T\", \"text\": \"one\"}\n"
                                  "\n"
                                  "{\"_id\": \"b\", \"text\": \"tw\n"
                                  "{\"_id\": \"c\", \"text\": \"three\"}\n"
                                  "{\"_id\": \"d\", \"text\": \"four\"");  // truncated last line
  std::vector<Document> docs;
  LoadFileStats stats;
  Status status = LoadFile(file, [&](Document&& doc) {
    docs.push_back(std::move(doc));
    return Status::OK();
  }, &stats);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].doc_id, "a");
  EXPECT_EQ(docs[0].source, file.string() + ":1");
  EXPECT_EQ(docs[1].doc_id, "c");
  EXPECT_EQ(docs[1].source, file.string() + ":4");
  EXPECT_EQ(stats.documents, 2u);
  EXPECT_EQ(stats.bad_lines, 2u);
  EXPECT_EQ(stats.first_bad_line_error.rfind(file.string() + ":3: ", 0), 0u)
      << stats.first_bad_line_error;
}

// --------------------------------------------------------------------------
// LoadFile

TEST(LoadFileTest, ErrorsAreClear) {
  TempDir dir;
  auto sink = [](Document&&) { return Status::OK(); };
  Status empty = LoadFile(dir.Write("empty.md", ""), sink, nullptr);
  EXPECT_EQ(empty.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(empty.message(), "empty")) << empty.ToString();
  Status binary = LoadFile(dir.Write("blob.txt", std::string("\x89PNG\r\n\x1a\n\0\0\0", 11)),
                           sink, nullptr);
  EXPECT_EQ(binary.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(binary.message(), "binary")) << binary.ToString();
  Status unknown = LoadFile(dir.Write("doc.pdf", "%PDF"), sink, nullptr);
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(unknown.message(), ".pdf")) << unknown.ToString();
  Status missing = LoadFile(dir.Write("x.txt", "x").parent_path() / "missing.txt", sink, nullptr);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.ToString();
  Status too_big = LoadFile(dir.Write("big.txt", std::string(100, 'a')), sink, nullptr, 10);
  EXPECT_FALSE(too_big.ok());
}

TEST(LoadFileTest, SinkErrorStopsTheWalk) {
  TempDir dir;
  const fs::path file =
      dir.Write("c.jsonl", "{\"_id\":\"1\",\"text\":\"a\"}\n{\"_id\":\"2\",\"text\":\"b\"}\n");
  int calls = 0;
  Status status = LoadFile(file, [&](Document&&) {
    ++calls;
    return Status::ResourceExhausted("full");
  }, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(calls, 1);
}

TEST(LoadFileTest, TextAndMarkdownFiles) {
  TempDir dir;
  const fs::path md = dir.Write("guide.md", "# Guide\n\nHello.\n");
  std::vector<Document> docs;
  auto sink = [&](Document&& doc) {
    docs.push_back(std::move(doc));
    return Status::OK();
  };
  ASSERT_TRUE(LoadFile(md, sink, nullptr).ok());
  const fs::path txt = dir.Write("README", "Readme title\n\nbody\n");
  ASSERT_TRUE(LoadFile(txt, sink, nullptr).ok());
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].doc_id, md.string());
  EXPECT_EQ(docs[0].title, "Guide");
  EXPECT_EQ(docs[0].text, "Guide\n\nHello.");
  EXPECT_EQ(docs[1].title, "Readme title");
  EXPECT_EQ(docs[1].source, txt.string());
}

}  // namespace
}  // namespace quarry::text
