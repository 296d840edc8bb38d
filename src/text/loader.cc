// Loaders implementation. See loader.h for the contract.
#include "text/loader.h"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <cstdlib>
#include <cstring>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/file_util.h"
#include "text/analyzer.h"
#include "text/utf8.h"

namespace quarry::text {
namespace {

using internal::DecodeUtf8;
using internal::IsAsciiSpace;
using internal::TrimAscii;

constexpr size_t kBinarySniffBytes = 8192;
constexpr size_t kMaxTitleBytes = 200;

bool IsBlank(std::string_view s) { return TrimAscii(s).empty(); }

std::string StemOf(const std::string& source) {
  if (source.empty()) return "";
  return std::filesystem::path(source).stem().string();
}

// Cuts `s` to at most `max_bytes` at a code point boundary.
std::string_view TruncateUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  return TrimAscii(s.substr(0, internal::Utf8FloorBoundary(s, max_bytes)));
}

// Collapses runs of whitespace (ASCII and U+00A0) to one space and trims.
std::string CollapseSpaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending = false;
  for (size_t pos = 0; pos < s.size(); ++pos) {
    const char c = s[pos];
    const bool nbsp = c == '\xC2' && pos + 1 < s.size() && s[pos + 1] == '\xA0';
    if (IsAsciiSpace(c) || nbsp) {
      pending = !out.empty();
      pos += nbsp ? 1 : 0;
      continue;
    }
    if (pending) out.push_back(' ');
    pending = false;
    out.push_back(c);
  }
  return out;
}

Status CheckInput(std::string_view bytes) {
  if (bytes.empty() || IsBlank(bytes)) {
    return Status::InvalidArgument("input is empty (no text to index)");
  }
  if (LooksBinary(bytes)) {
    return Status::InvalidArgument(
        "input looks like binary data (NUL or control bytes), not text");
  }
  return Status::OK();
}

// Builds Document::sections from headings met while writing the text.
class SectionTracker {
 public:
  // A heading of `level` (1..6) whose text starts at byte `pos` of the text.
  void OnHeading(int level, std::string_view heading_text, size_t pos) {
    std::string text = CollapseSpaces(heading_text);
    if (text.empty()) return;
    while (!stack_.empty() && stack_.back().first >= level) stack_.pop_back();
    stack_.emplace_back(level, std::move(text));
    std::string path;
    for (const auto& entry : stack_) {
      if (!path.empty()) path += " > ";
      path += entry.second;
    }
    marks_.push_back(Mark{pos, std::move(path)});
  }

  // Turns the marks into ordered, non-overlapping sections that cover the
  // non-blank content of `text` (trailing whitespace of each excluded).
  std::vector<SectionSpan> Finish(std::string_view text) const {
    std::vector<SectionSpan> sections;
    auto add = [&](std::string path, size_t begin, size_t end) {
      while (end > begin && IsAsciiSpace(text[end - 1])) --end;
      while (begin < end && IsAsciiSpace(text[begin])) ++begin;
      if (end > begin) sections.push_back(SectionSpan{std::move(path), begin, end});
    };
    const size_t first = marks_.empty() ? text.size() : marks_.front().pos;
    add("", 0, first);
    for (size_t mark_idx = 0; mark_idx < marks_.size(); ++mark_idx) {
      const size_t end = mark_idx + 1 < marks_.size() ? marks_[mark_idx + 1].pos : text.size();
      add(marks_[mark_idx].path, marks_[mark_idx].pos, end);
    }
    return sections;
  }

 private:
  struct Mark {
    size_t pos;
    std::string path;
  };
  std::vector<std::pair<int, std::string>> stack_;
  std::vector<Mark> marks_;
};

// ---------------------------------------------------------------------------
// HTML

// Gumbo allocations are tracked in an intrusive list so that the whole tree
// can be released without gumbo_destroy_output, whose recursive node walk
// would overflow the stack on very deep documents.
class GumboArena {
 public:
  GumboArena() { head_.prev = head_.next = &head_; }
  ~GumboArena() {
    Header* node = head_.next;
    while (node != &head_) {
      Header* next = node->next;
      std::free(node);
      node = next;
    }
  }
  GumboArena(const GumboArena&) = delete;
  GumboArena& operator=(const GumboArena&) = delete;

  static void* Allocate(void* userdata, size_t size) {
    auto* arena = static_cast<GumboArena*>(userdata);
    auto* header = static_cast<Header*>(std::malloc(sizeof(Header) + size));
    // Gumbo (C) cannot unwind an exception or handle a null allocation.
    if (header == nullptr) std::abort();
    header->next = arena->head_.next;
    header->prev = &arena->head_;
    arena->head_.next->prev = header;
    arena->head_.next = header;
    return header + 1;
  }
  static void Deallocate(void* /*userdata*/, void* ptr) {
    if (ptr == nullptr) return;
    Header* header = static_cast<Header*>(ptr) - 1;
    header->prev->next = header->next;
    header->next->prev = header->prev;
    std::free(header);
  }

 private:
  struct alignas(std::max_align_t) Header {
    Header* prev;
    Header* next;
  };
  Header head_;
};

enum class TagKind { kInline, kSkip, kBlock, kLine, kCell, kPre, kHeading, kTitle, kBreak };

TagKind ClassifyTag(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NAV: case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_ASIDE: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_IFRAME: case GUMBO_TAG_OBJECT: case GUMBO_TAG_EMBED: case GUMBO_TAG_SVG:
    case GUMBO_TAG_MATH: case GUMBO_TAG_CANVAS: case GUMBO_TAG_AUDIO: case GUMBO_TAG_VIDEO:
    case GUMBO_TAG_BUTTON: case GUMBO_TAG_SELECT: case GUMBO_TAG_TEXTAREA:
    case GUMBO_TAG_INPUT: case GUMBO_TAG_META: case GUMBO_TAG_LINK: case GUMBO_TAG_BASE:
    case GUMBO_TAG_HEADER:  // kept inside <article>/<main>, see the walk
      return TagKind::kSkip;
    case GUMBO_TAG_TITLE:
      return TagKind::kTitle;
    case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4:
    case GUMBO_TAG_H5: case GUMBO_TAG_H6:
      return TagKind::kHeading;
    case GUMBO_TAG_PRE: case GUMBO_TAG_LISTING: case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT:
      return TagKind::kPre;
    case GUMBO_TAG_BR: case GUMBO_TAG_HR:
      return TagKind::kBreak;
    case GUMBO_TAG_LI: case GUMBO_TAG_DT: case GUMBO_TAG_DD: case GUMBO_TAG_TR:
    case GUMBO_TAG_OPTION: case GUMBO_TAG_CAPTION: case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_SUMMARY: case GUMBO_TAG_LEGEND:
      return TagKind::kLine;
    case GUMBO_TAG_TD: case GUMBO_TAG_TH:
      return TagKind::kCell;
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIV: case GUMBO_TAG_DL:
    case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGURE: case GUMBO_TAG_FORM: case GUMBO_TAG_MAIN:
    case GUMBO_TAG_OL: case GUMBO_TAG_UL: case GUMBO_TAG_P: case GUMBO_TAG_SECTION:
    case GUMBO_TAG_TABLE: case GUMBO_TAG_THEAD: case GUMBO_TAG_TBODY: case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_BODY: case GUMBO_TAG_HTML: case GUMBO_TAG_CENTER: case GUMBO_TAG_MENU:
    case GUMBO_TAG_HGROUP: case GUMBO_TAG_DIR: case GUMBO_TAG_FRAMESET:
      return TagKind::kBlock;
    default:
      return TagKind::kInline;
  }
}

// Boilerplate by class token (DocBook/PostgreSQL, Sphinx themes, common sites).
bool IsBoilerplateClass(std::string_view token) {
  static constexpr std::array<std::string_view, 26> kClasses = {
      "toc", "list-of-tables", "list-of-figures", "list-of-examples",  // DocBook
      "navheader",     "navfooter",       "sphinxsidebar", "sphinxsidebarwrapper",
      "related",       "headerlink",      "footer",        "wy-breadcrumbs",
      "rst-footer-buttons", "wy-nav-side", "breadcrumb",   "breadcrumbs",
      "skip-link",     "skiplink",        "navbar",        "site-header",
      "site-footer",   "cookie-banner",   "sidebar-nav",   "toc-backref",
      "md-sidebar",    "md-header"};
  return std::find(kClasses.begin(), kClasses.end(), token) != kClasses.end();
}

bool IsBoilerplateRole(std::string_view role) {
  return role == "navigation" || role == "banner" || role == "contentinfo" ||
         role == "search" || role == "complementary";
}

bool IsBoilerplateElement(const GumboElement& element) {
  if (const GumboAttribute* role = gumbo_get_attribute(&element.attributes, "role")) {
    if (IsBoilerplateRole(TrimAscii(role->value))) return true;
  }
  if (gumbo_get_attribute(&element.attributes, "hidden") != nullptr) return true;
  if (const GumboAttribute* cls = gumbo_get_attribute(&element.attributes, "class")) {
    std::string_view classes = cls->value;
    size_t pos = 0;
    while (pos < classes.size()) {
      while (pos < classes.size() && IsAsciiSpace(classes[pos])) ++pos;
      size_t end = pos;
      while (end < classes.size() && !IsAsciiSpace(classes[end])) ++end;
      if (end > pos && IsBoilerplateClass(classes.substr(pos, end - pos))) return true;
      pos = end;
    }
  }
  return false;
}

// Streams text with lazily written separators, so that blocks never leave
// stray blank lines and inline text never gets double spaces.
class TextBuilder {
 public:
  enum class Sep { kNone = 0, kSpace = 1, kLine = 2, kPara = 3 };

  void Request(Sep sep) {
    if (static_cast<int>(sep) > static_cast<int>(pending_)) pending_ = sep;
  }

  // Appends text with HTML whitespace collapsing (NBSP counts as space).
  void AppendCollapsed(std::string_view s) {
    size_t pos = 0;
    while (pos < s.size()) {
      const char c = s[pos];
      if (IsAsciiSpace(c)) {
        Request(Sep::kSpace);
        ++pos;
        continue;
      }
      if (c == '\xC2' && pos + 1 < s.size() && s[pos + 1] == '\xA0') {
        Request(Sep::kSpace);
        pos += 2;
        continue;
      }
      size_t end = pos + 1;
      while (end < s.size() && !IsAsciiSpace(s[end]) &&
             !(s[end] == '\xC2' && end + 1 < s.size() && s[end + 1] == '\xA0')) {
        ++end;
      }
      Write(s.substr(pos, end - pos));
      pos = end;
    }
  }

  // Appends preformatted text as is (CR LF -> LF).
  void AppendVerbatim(std::string_view s) {
    size_t pos = 0;
    while (pos < s.size()) {
      size_t end = s.find('\r', pos);
      if (end == std::string_view::npos) end = s.size();
      if (end > pos) WriteRaw(s.substr(pos, end - pos));
      if (end < s.size()) {
        if (end + 1 < s.size() && s[end + 1] == '\n') {
          pos = end + 1;  // the LF is written next round
        } else {
          WriteRaw("\n");
          pos = end + 1;
        }
      } else {
        pos = end;
      }
    }
  }

  // Position where the next written content will start (after any pending
  // separator), recorded on the next write.
  void MarkNext() { mark_pending_ = true; mark_ = std::string::npos; }
  void CancelMark() { mark_pending_ = false; mark_ = std::string::npos; }
  size_t mark() const { return mark_; }

  const std::string& text() const { return out_; }
  std::string Finish() {
    TrimTrailingSpace();
    return std::move(out_);
  }

 private:
  void Flush() {
    if (out_.empty()) {
      pending_ = Sep::kNone;
      return;
    }
    switch (pending_) {
      case Sep::kNone:
        break;
      case Sep::kSpace:
        if (!IsAsciiSpace(out_.back())) out_.push_back(' ');
        break;
      case Sep::kLine:
        TrimTrailingSpace();
        out_.push_back('\n');
        break;
      case Sep::kPara:
        TrimTrailingSpace();
        out_.append("\n\n");
        break;
    }
    pending_ = Sep::kNone;
  }
  void TrimTrailingSpace() {
    size_t end = out_.size();
    while (end > 0 && IsAsciiSpace(out_[end - 1])) --end;
    out_.resize(end);
  }
  void Write(std::string_view s) {
    Flush();
    if (mark_pending_) {
      mark_ = out_.size();
      mark_pending_ = false;
    }
    out_.append(s);
  }
  void WriteRaw(std::string_view s) {
    // Verbatim text: only the separators before it are written lazily.
    if (out_.empty() && IsBlank(s)) return;
    Write(s);
  }

  std::string out_;
  Sep pending_ = Sep::kNone;
  bool mark_pending_ = false;
  size_t mark_ = std::string::npos;
};

// Gumbo's tree builder scans its stack of open elements on many tags, so a
// document nested N levels deep costs O(N^2) (100k nested <ul><li> take
// about a minute). Like browsers (Blink caps the tree at 512 levels) we cap
// the nesting: a cheap pre-scan tracks open tags, with HTML's implied end tags
// for the common cases, and drops start tags (and their end tags) beyond
// kMaxHtmlDepth. Text is never dropped; only the structure of absurdly deep
// documents is flattened. Returns an empty string when nothing is dropped.
constexpr size_t kMaxHtmlDepth = 512;

bool NameIn(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view candidate : names) {
    if (name == candidate) return true;
  }
  return false;
}

bool IsVoidElement(std::string_view name) {
  return NameIn(name, {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                       "meta", "param", "source", "track", "wbr", "keygen", "basefont",
                       "bgsound", "frame", "image"});
}

bool IsRawTextElement(std::string_view name) {
  return NameIn(name, {"script", "style", "textarea", "title", "xmp", "iframe", "noembed",
                       "noframes", "noscript"});
}

// Elements whose end tag is implied by a following sibling of the same group.
int ImpliedEndGroup(std::string_view name) {
  if (name == "p") return 1;
  if (name == "li") return 2;
  if (name == "dt" || name == "dd") return 3;
  if (name == "option") return 4;
  if (name == "tr") return 5;
  if (name == "td" || name == "th") return 6;
  return 0;
}

bool ClosesParagraph(std::string_view name) {
  return NameIn(name, {"address", "article", "aside", "blockquote", "div", "dl", "fieldset",
                       "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
                       "main", "nav", "ol", "p", "pre", "section", "table", "ul", "li",
                       "dt", "dd"});
}

std::string CapHtmlNesting(std::string_view in) {
  std::vector<std::string> stack;
  std::vector<std::pair<size_t, size_t>> drops;
  std::vector<std::pair<std::string, size_t>> dropped_opens;  // name -> count
  auto lower_name = [&](size_t pos, size_t* end) {
    std::string name;
    while (pos < in.size() && (std::isalnum(static_cast<unsigned char>(in[pos])) ||
                               in[pos] == '-' || in[pos] == ':' || in[pos] == '_')) {
      if (name.size() < 32) {
        name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(in[pos]))));
      }
      ++pos;
    }
    *end = pos;
    return name;
  };
  // Finds the '>' that ends a tag, skipping quoted attribute values.
  auto tag_end = [&](size_t pos) {
    char quote = 0;
    for (; pos < in.size(); ++pos) {
      const char c = in[pos];
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        if (pos > 0 && in[pos - 1] == '=') quote = c;
      } else if (c == '>') {
        return pos;
      }
    }
    return in.size();
  };
  size_t pos = 0;
  while (true) {
    pos = in.find('<', pos);
    if (pos == std::string_view::npos || pos + 1 >= in.size()) break;
    const size_t start = pos;
    const char next = in[pos + 1];
    if (in.compare(pos, 4, "<!--") == 0) {
      size_t end = in.find("-->", pos + 4);
      pos = end == std::string_view::npos ? in.size() : end + 3;
      continue;
    }
    if (next == '!' || next == '?') {
      pos = tag_end(pos + 2) + 1;
      continue;
    }
    if (next == '/') {
      size_t name_end;
      std::string name = lower_name(pos + 2, &name_end);
      pos = tag_end(name_end) + 1;
      if (name.empty()) continue;
      if (!stack.empty() && stack.back() == name) {
        stack.pop_back();
        continue;
      }
      auto dropped = std::find_if(dropped_opens.begin(), dropped_opens.end(),
                                  [&](const auto& entry) { return entry.first == name; });
      if (dropped != dropped_opens.end() && dropped->second > 0) {
        --dropped->second;
        drops.emplace_back(start, std::min(pos, in.size()));
        continue;
      }
      // Close up to a nearby matching element (misnested or implied ends).
      for (size_t look = 1; look <= 16 && look <= stack.size(); ++look) {
        if (stack[stack.size() - look] == name) {
          stack.resize(stack.size() - look);
          break;
        }
      }
      continue;
    }
    if (!std::isalpha(static_cast<unsigned char>(next))) {
      ++pos;
      continue;
    }
    size_t name_end;
    std::string name = lower_name(pos + 1, &name_end);
    const size_t gt = tag_end(name_end);
    pos = gt + 1;
    if (IsRawTextElement(name)) {
      // Skip to the matching end tag (case-insensitive).
      size_t search = pos;
      size_t close = std::string_view::npos;
      while (search < in.size()) {
        size_t lt = in.find("</", search);
        if (lt == std::string_view::npos) break;
        size_t end;
        if (lower_name(lt + 2, &end) == name) {
          close = lt;
          break;
        }
        search = lt + 2;
      }
      pos = close == std::string_view::npos ? in.size() : close;
      continue;
    }
    if (name == "plaintext") break;
    const bool self_closing = gt < in.size() && gt > start && in[gt - 1] == '/';
    if (IsVoidElement(name) || self_closing) continue;
    if (!stack.empty()) {
      const int group = ImpliedEndGroup(name);
      if (group != 0 && ImpliedEndGroup(stack.back()) == group) {
        stack.pop_back();
      } else if (stack.back() == "p" && ClosesParagraph(name)) {
        stack.pop_back();
      }
    }
    if (stack.size() >= kMaxHtmlDepth) {
      drops.emplace_back(start, std::min(pos, in.size()));
      auto dropped = std::find_if(dropped_opens.begin(), dropped_opens.end(),
                                  [&](const auto& entry) { return entry.first == name; });
      if (dropped == dropped_opens.end()) {
        dropped_opens.emplace_back(name, 1);
      } else {
        ++dropped->second;
      }
      continue;
    }
    stack.push_back(std::move(name));
  }
  if (drops.empty()) return std::string();
  std::string out;
  out.reserve(in.size());
  size_t copied = 0;
  for (const auto& [begin, end] : drops) {
    out.append(in.substr(copied, begin - copied));
    out.push_back(' ');  // a dropped tag still separates words
    copied = end;
  }
  out.append(in.substr(copied));
  return out;
}

struct HtmlFrame {
  const GumboNode* node;
  unsigned next_child;
  TagKind kind;
};

class HtmlExtractor {
 public:
  Result<Document> Run(const GumboNode* root, std::string source) {
    std::vector<HtmlFrame> stack;
    Enter(root, &stack);
    while (!stack.empty()) {
      HtmlFrame& frame = stack.back();
      const GumboVector* children = Children(frame.node);
      if (children != nullptr && frame.next_child < children->length) {
        const auto* child = static_cast<const GumboNode*>(children->data[frame.next_child++]);
        Enter(child, &stack);
        continue;
      }
      Exit(frame);
      stack.pop_back();
    }

    Document doc;
    doc.source = std::move(source);
    doc.text = RepairUtf8(builder_.Finish());
    doc.sections = sections_.Finish(doc.text);
    std::string title = CollapseSpaces(title_);
    if (!first_h1_.empty() && title.size() > first_h1_.size() &&
        title.compare(0, first_h1_.size(), first_h1_) == 0) {
      // "Page — Site documentation" -> "Page" when the page's h1 is "Page".
      std::string_view rest = std::string_view(title).substr(first_h1_.size());
      for (std::string_view sep : {" \xE2\x80\x94 ", " \xE2\x80\x93 ", " - ", " | ", " :: ",
                                   " \xC2\xB7 ", " : "}) {
        if (rest.substr(0, sep.size()) == sep) {
          title = first_h1_;
          break;
        }
      }
    }
    if (title.empty()) title = first_h1_;
    if (title.empty()) title = StemOf(doc.source);
    doc.title = RepairUtf8(TruncateUtf8(title, 4 * kMaxTitleBytes));
    return doc;
  }

 private:
  static const GumboVector* Children(const GumboNode* node) {
    if (node->type == GUMBO_NODE_DOCUMENT) return &node->v.document.children;
    if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE) {
      return &node->v.element.children;
    }
    return nullptr;
  }

  void Enter(const GumboNode* node, std::vector<HtmlFrame>* stack) {
    switch (node->type) {
      case GUMBO_NODE_DOCUMENT:
        stack->push_back(HtmlFrame{node, 0, TagKind::kBlock});
        return;
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_WHITESPACE:
      case GUMBO_NODE_CDATA:
        if (pre_depth_ > 0) {
          builder_.AppendVerbatim(node->v.text.text);
        } else {
          builder_.AppendCollapsed(node->v.text.text);
        }
        return;
      case GUMBO_NODE_COMMENT:
      case GUMBO_NODE_TEMPLATE:
        return;
      case GUMBO_NODE_ELEMENT:
        break;
    }
    const GumboElement& element = node->v.element;
    TagKind kind = ClassifyTag(element.tag);
    if (element.tag == GUMBO_TAG_HEADER && landmark_depth_ > 0) kind = TagKind::kBlock;
    if (kind == TagKind::kSkip) return;
    if (kind == TagKind::kTitle) {
      if (title_.empty()) {
        for (unsigned child_idx = 0; child_idx < element.children.length; ++child_idx) {
          const auto* child = static_cast<const GumboNode*>(element.children.data[child_idx]);
          if (child->type == GUMBO_NODE_TEXT || child->type == GUMBO_NODE_WHITESPACE) {
            title_ += child->v.text.text;
          }
        }
      }
      return;
    }
    if (element.tag != GUMBO_TAG_BODY && element.tag != GUMBO_TAG_HTML &&
        IsBoilerplateElement(element)) {
      return;
    }
    if (element.tag == GUMBO_TAG_ARTICLE || element.tag == GUMBO_TAG_MAIN) ++landmark_depth_;
    switch (kind) {
      case TagKind::kBlock:
        builder_.Request(TextBuilder::Sep::kPara);
        break;
      case TagKind::kLine:
        builder_.Request(TextBuilder::Sep::kLine);
        break;
      case TagKind::kCell:
        builder_.Request(TextBuilder::Sep::kSpace);
        break;
      case TagKind::kBreak:
        builder_.Request(element.tag == GUMBO_TAG_HR ? TextBuilder::Sep::kPara
                                                     : TextBuilder::Sep::kLine);
        break;
      case TagKind::kPre:
        builder_.Request(TextBuilder::Sep::kPara);
        ++pre_depth_;
        break;
      case TagKind::kHeading:
        builder_.Request(TextBuilder::Sep::kPara);
        if (heading_depth_++ == 0) builder_.MarkNext();
        break;
      default:
        break;
    }
    stack->push_back(HtmlFrame{node, 0, kind});
  }

  void Exit(const HtmlFrame& frame) {
    if (frame.node->type != GUMBO_NODE_ELEMENT) return;
    const GumboElement& element = frame.node->v.element;
    if (element.tag == GUMBO_TAG_ARTICLE || element.tag == GUMBO_TAG_MAIN) --landmark_depth_;
    switch (frame.kind) {
      case TagKind::kBlock:
        builder_.Request(TextBuilder::Sep::kPara);
        break;
      case TagKind::kLine:
        builder_.Request(TextBuilder::Sep::kLine);
        break;
      case TagKind::kCell:
        builder_.Request(TextBuilder::Sep::kSpace);
        break;
      case TagKind::kPre:
        --pre_depth_;
        builder_.Request(TextBuilder::Sep::kPara);
        break;
      case TagKind::kHeading:
        if (--heading_depth_ == 0) {
          const size_t begin = builder_.mark();
          if (begin != std::string::npos && begin < builder_.text().size()) {
            std::string_view heading = std::string_view(builder_.text()).substr(begin);
            const int level = static_cast<int>(element.tag - GUMBO_TAG_H1) + 1;
            sections_.OnHeading(level, heading, begin);
            if (level == 1 && first_h1_.empty()) first_h1_ = CollapseSpaces(heading);
          }
          builder_.CancelMark();
          builder_.Request(TextBuilder::Sep::kPara);
        }
        break;
      default:
        break;
    }
  }

  TextBuilder builder_;
  SectionTracker sections_;
  std::string title_;
  std::string first_h1_;
  int pre_depth_ = 0;
  int heading_depth_ = 0;
  int landmark_depth_ = 0;
};

// ---------------------------------------------------------------------------
// Markdown

// Inline markup -> plain text for one paragraph (already valid UTF-8).
class InlineRenderer {
 public:
  explicit InlineRenderer(std::string_view in) : in_(in) {}

  std::string Render() {
    std::string out;
    out.reserve(in_.size());
    MatchBrackets();
    size_t i = 0;
    const size_t n = in_.size();
    while (i < n) {
      if (!skip_to_.empty() && skip_to_[i] != 0) {
        i = skip_to_[i];
        continue;
      }
      const char c = in_[i];
      switch (c) {
        case '\\':
          if (i + 1 < n && std::ispunct(static_cast<unsigned char>(in_[i + 1]))) {
            out.push_back(in_[i + 1]);
            i += 2;
            continue;
          }
          break;
        case '`': {
          size_t run = 1;
          while (i + run < n && in_[i + run] == '`') ++run;
          size_t close = FindBacktickCloser(i + run, run);
          if (close == std::string_view::npos) {
            out.append(in_.substr(i, run));
            i += run;
            continue;
          }
          std::string_view code = in_.substr(i + run, close - (i + run));
          if (code.size() >= 2 && code.front() == ' ' && code.back() == ' ' && !IsBlank(code)) {
            code = code.substr(1, code.size() - 2);
          }
          for (char cc : code) out.push_back(cc == '\n' ? ' ' : cc);
          i = close + run;
          continue;
        }
        case '!':
          if (i + 1 < n && in_[i + 1] == '[' && TryLink(i + 1)) {
            i += 2;  // alt text follows
            continue;
          }
          break;
        case '[':
          if (TryLink(i)) {
            ++i;
            continue;
          }
          break;
        case '<': {
          size_t end = TryTag(i, &out);
          if (end != 0) {
            i = end;
            continue;
          }
          break;
        }
        case '&': {
          size_t end = TryEntity(i, &out);
          if (end != 0) {
            i = end;
            continue;
          }
          break;
        }
        case '*':
        case '_':
        case '~': {
          size_t run = 1;
          while (i + run < n && in_[i + run] == c) ++run;
          if (IsEmphasisRun(i, run, c)) {
            i += run;
            continue;
          }
          out.append(in_.substr(i, run));
          i += run;
          continue;
        }
        default:
          break;
      }
      out.push_back(c);
      ++i;
    }
    return out;
  }

 private:
  // match_[i] for '[' and '(' = index of the matching closer, via one stack pass.
  void MatchBrackets() {
    if (in_.find('[') == std::string_view::npos) return;
    match_.assign(in_.size(), std::string_view::npos);
    std::vector<size_t> squares;
    std::vector<size_t> parens;
    for (size_t i = 0; i < in_.size(); ++i) {
      const char c = in_[i];
      if (c == '\\') {
        ++i;
        continue;
      }
      if (c == '[') {
        squares.push_back(i);
      } else if (c == ']' && !squares.empty()) {
        match_[squares.back()] = i;
        squares.pop_back();
      } else if (c == '(') {
        parens.push_back(i);
      } else if (c == ')' && !parens.empty()) {
        match_[parens.back()] = i;
        parens.pop_back();
      }
    }
    skip_to_.assign(in_.size(), 0);
  }

  // '[' at `open`: [text](dest) or [text][ref] -> the text stays, the rest is
  // skipped when the walk reaches the ']'.
  bool TryLink(size_t open) {
    if (match_.empty() || match_[open] == std::string_view::npos) return false;
    const size_t close = match_[open];
    if (close + 1 >= in_.size()) return false;
    const char next = in_[close + 1];
    if ((next == '(' || next == '[') && match_[close + 1] != std::string_view::npos) {
      skip_to_[close] = match_[close + 1] + 1;
      return true;
    }
    return false;
  }

  size_t FindBacktickCloser(size_t from, size_t run) {
    if (run < no_closer_.size() && no_closer_[run]) return std::string_view::npos;
    size_t pos = from;
    while (pos < in_.size()) {
      size_t found = in_.find('`', pos);
      if (found == std::string_view::npos) break;
      size_t len = 1;
      while (found + len < in_.size() && in_[found + len] == '`') ++len;
      if (len == run) return found;
      pos = found + len;
    }
    if (run < no_closer_.size()) no_closer_[run] = true;
    return std::string_view::npos;
  }

  // <http://...> autolinks keep the URL; <tag ...>, </tag>, <!-- --> vanish.
  size_t TryTag(size_t i, std::string* out) {
    if (i + 1 >= in_.size()) return 0;
    const char next = in_[i + 1];
    const bool tagish = std::isalpha(static_cast<unsigned char>(next)) || next == '/' ||
                        next == '!' || next == '?';
    if (!tagish) return 0;
    if (next_gt_ == std::string_view::npos || (next_gt_ != kNone && next_gt_ < i)) {
      next_gt_ = in_.find('>', i);
      if (next_gt_ == std::string_view::npos) next_gt_ = kNone;
    }
    if (next_gt_ == kNone) return 0;
    std::string_view inner = in_.substr(i + 1, next_gt_ - i - 1);
    if (inner.find('\n') != std::string_view::npos && inner.size() > 1024) return 0;
    if (inner.find("://") != std::string_view::npos || inner.substr(0, 7) == "mailto:") {
      if (inner.find(' ') == std::string_view::npos) out->append(inner);
      else return 0;
    }
    return next_gt_ + 1;
  }

  size_t TryEntity(size_t i, std::string* out) {
    size_t semi = in_.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 10 || semi == i + 1) return 0;
    std::string_view name = in_.substr(i + 1, semi - i - 1);
    if (name[0] == '#') {
      uint32_t cp = 0;
      bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
      std::string_view digits = name.substr(hex ? 2 : 1);
      if (digits.empty()) return 0;
      for (char d : digits) {
        int v;
        if (d >= '0' && d <= '9') v = d - '0';
        else if (hex && (d | 0x20) >= 'a' && (d | 0x20) <= 'f') v = (d | 0x20) - 'a' + 10;
        else return 0;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        if (cp > 0x10FFFF) cp = 0x110000;
      }
      if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
      internal::AppendUtf8(cp, out);
      return semi + 1;
    }
    static constexpr std::pair<std::string_view, std::string_view> kEntities[] = {
        {"amp", "&"},  {"lt", "<"},   {"gt", ">"}, {"quot", "\""},
        {"apos", "'"}, {"nbsp", " "}, {"copy", "\xC2\xA9"}, {"mdash", "\xE2\x80\x94"},
        {"ndash", "\xE2\x80\x93"}, {"hellip", "\xE2\x80\xA6"}};
    for (const auto& [key, value] : kEntities) {
      if (name == key) {
        out->append(value);
        return semi + 1;
      }
    }
    return 0;
  }

  static bool IsPunct(char c) { return std::ispunct(static_cast<unsigned char>(c)) != 0; }

  // CommonMark-ish flanking rules: a run that opens or closes emphasis is
  // markup; "2 * 3" and snake_case stay.
  bool IsEmphasisRun(size_t i, size_t run, char c) const {
    const char before = i == 0 ? ' ' : in_[i - 1];
    const char after = i + run >= in_.size() ? ' ' : in_[i + run];
    const bool before_space = IsAsciiSpace(before);
    const bool after_space = IsAsciiSpace(after);
    const bool left = !after_space && (!IsPunct(after) || before_space || IsPunct(before));
    const bool right = !before_space && (!IsPunct(before) || after_space || IsPunct(after));
    if (c == '~') return run == 2 && (left || right);
    if (c == '_') return left != right;
    return left || right;
  }

  static constexpr size_t kNone = std::string_view::npos - 1;
  std::string_view in_;
  std::vector<size_t> match_;
  std::vector<size_t> skip_to_;
  std::array<bool, 64> no_closer_{};
  size_t next_gt_ = std::string_view::npos;
};

struct MdLine {
  std::string_view text;  // without the line ending
};

size_t LeadingSpaces(std::string_view line) {
  size_t cols = 0;
  for (char c : line) {
    if (c == ' ') ++cols;
    else if (c == '\t') cols += 4 - cols % 4;
    else break;
  }
  return cols;
}

std::string_view StripIndent(std::string_view line, size_t max_cols) {
  size_t cols = 0;
  size_t pos = 0;
  while (pos < line.size() && cols < max_cols) {
    if (line[pos] == ' ') ++cols;
    else if (line[pos] == '\t') cols += 4 - cols % 4;
    else break;
    ++pos;
  }
  return line.substr(pos);
}

// "```lang" / "~~~": returns the fence length and char, or 0.
size_t FenceOpen(std::string_view line, char* fence_char) {
  if (LeadingSpaces(line) > 3) return 0;
  std::string_view s = TrimAscii(line);
  if (s.size() < 3 || (s[0] != '`' && s[0] != '~')) return 0;
  size_t run = 0;
  while (run < s.size() && s[run] == s[0]) ++run;
  if (run < 3) return 0;
  if (s[0] == '`' && s.substr(run).find('`') != std::string_view::npos) return 0;
  *fence_char = s[0];
  return run;
}

bool IsFenceClose(std::string_view line, char fence_char, size_t fence_len) {
  if (LeadingSpaces(line) > 3) return false;
  std::string_view s = TrimAscii(line);
  size_t run = 0;
  while (run < s.size() && s[run] == fence_char) ++run;
  return run >= fence_len && run == s.size();
}

// "# Title #" -> level and text; 0 when not an ATX heading.
int AtxHeading(std::string_view line, std::string_view* text) {
  if (LeadingSpaces(line) > 3) return 0;
  std::string_view s = StripIndent(line, 3);
  int level = 0;
  while (static_cast<size_t>(level) < s.size() && s[level] == '#') ++level;
  if (level < 1 || level > 6) return 0;
  if (static_cast<size_t>(level) < s.size() && s[level] != ' ' && s[level] != '\t') return 0;
  std::string_view rest = TrimAscii(s.substr(level));
  size_t end = rest.size();
  while (end > 0 && rest[end - 1] == '#') --end;
  if (end == 0 || IsAsciiSpace(rest[end - 1])) rest = TrimAscii(rest.substr(0, end));
  *text = rest;
  return level;
}

bool IsThematicBreak(std::string_view line) {
  if (LeadingSpaces(line) > 3) return false;
  char mark = 0;
  int count = 0;
  for (char c : line) {
    if (c == ' ' || c == '\t') continue;
    if (c != '-' && c != '*' && c != '_') return false;
    if (mark != 0 && c != mark) return false;
    mark = c;
    ++count;
  }
  return count >= 3;
}

// '=' -> 1, '-' -> 2, else 0.
int SetextLevel(std::string_view line) {
  if (LeadingSpaces(line) > 3) return 0;
  std::string_view s = TrimAscii(line);
  if (s.empty() || (s[0] != '=' && s[0] != '-')) return 0;
  for (char c : s) {
    if (c != s[0]) return 0;
  }
  return s[0] == '=' ? 1 : 2;
}

// "- item", "* item", "+ item", "12. item", "3) item": returns the item text.
bool ListItem(std::string_view line, std::string_view* item) {
  std::string_view s = TrimAscii(line);
  size_t marker = 0;
  if (!s.empty() && (s[0] == '-' || s[0] == '*' || s[0] == '+')) {
    marker = 1;
  } else {
    while (marker < s.size() && marker < 9 && s[marker] >= '0' && s[marker] <= '9') ++marker;
    if (marker == 0 || marker >= s.size() || (s[marker] != '.' && s[marker] != ')')) return false;
    ++marker;
  }
  if (marker < s.size() && s[marker] != ' ' && s[marker] != '\t') return false;
  std::string_view rest = TrimAscii(s.substr(marker));
  if (rest.size() >= 3 && rest[0] == '[' && rest[2] == ']' &&
      (rest[1] == ' ' || rest[1] == 'x' || rest[1] == 'X')) {
    rest = TrimAscii(rest.substr(3));  // task list box
  }
  *item = rest;
  return true;
}

bool IsTableDelimiterRow(std::string_view s) {
  bool dash = false;
  for (char c : s) {
    if (c == '-') dash = true;
    else if (c != '|' && c != ':' && c != ' ' && c != '\t') return false;
  }
  return dash;
}

bool IsLinkReferenceDefinition(std::string_view line) {
  if (LeadingSpaces(line) > 3) return false;
  std::string_view s = TrimAscii(line);
  if (s.size() < 4 || s[0] != '[' || s[1] == '^') return false;
  size_t close = s.find("]:");
  return close != std::string_view::npos && close > 1 &&
         s.substr(1, close - 1).find(']') == std::string_view::npos;
}

class MarkdownParser {
 public:
  Document Parse(std::string_view text, std::string source) {
    std::vector<std::string_view> lines;
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines.push_back(line);
      pos = end + 1;
    }
    size_t line_idx = SkipFrontMatter(lines);

    char fence_char = 0;
    size_t fence_len = 0;
    bool in_fence = false;
    bool in_comment = false;
    bool in_indented_code = false;
    bool after_list = false;
    for (; line_idx < lines.size(); ++line_idx) {
      const std::string_view line = lines[line_idx];
      if (in_fence) {
        if (IsFenceClose(line, fence_char, fence_len)) {
          in_fence = false;
          EmitCode();
        } else {
          AppendCodeLine(StripIndent(line, fence_indent_));
        }
        continue;
      }
      if (in_comment) {
        if (line.find("-->") != std::string_view::npos) in_comment = false;
        continue;
      }
      if (IsBlank(line)) {
        if (in_indented_code) {
          code_.push_back('\n');  // may continue after a blank line
        } else {
          FlushParagraph();
        }
        continue;
      }
      const size_t indent = LeadingSpaces(line);
      if (in_indented_code) {
        if (indent >= 4) {
          AppendCodeLine(StripIndent(line, 4));
          continue;
        }
        in_indented_code = false;
        EmitCode();
      }
      if (indent >= 4 && para_.empty() && !after_list) {
        in_indented_code = true;
        AppendCodeLine(StripIndent(line, 4));
        continue;
      }
      if (size_t len = FenceOpen(line, &fence_char); len > 0) {
        FlushParagraph();
        in_fence = true;
        fence_len = len;
        fence_indent_ = LeadingSpaces(line);
        continue;
      }
      std::string_view heading_text;
      if (int level = AtxHeading(line, &heading_text); level > 0) {
        FlushParagraph();
        EmitHeading(level, heading_text);
        after_list = false;
        continue;
      }
      if (!para_.empty() && !para_is_list_) {
        if (int level = SetextLevel(line); level > 0) {
          std::string heading = std::move(para_);
          para_.clear();
          EmitHeading(level, heading);
          continue;
        }
      }
      if (IsThematicBreak(line)) {
        FlushParagraph();
        continue;
      }
      std::string_view trimmed = TrimAscii(line);
      if (trimmed.substr(0, 4) == "<!--") {
        FlushParagraph();
        if (trimmed.find("-->", 4) == std::string_view::npos) in_comment = true;
        continue;
      }
      if (para_.empty() && IsLinkReferenceDefinition(line)) continue;
      // Block quotes: drop the markers, keep the text.
      while (!trimmed.empty() && trimmed[0] == '>') trimmed = TrimAscii(trimmed.substr(1));
      if (trimmed.empty()) {
        FlushParagraph();
        continue;
      }
      std::string_view item;
      if (ListItem(trimmed, &item)) {
        AppendLine(item, /*new_line=*/true);
        para_is_list_ = true;
        after_list = true;
        continue;
      }
      if (trimmed[0] == '|') {
        if (IsTableDelimiterRow(trimmed)) continue;
        std::string row;
        std::string_view cells = trimmed.substr(1);
        if (!cells.empty() && cells.back() == '|') cells.remove_suffix(1);
        for (char c : cells) row.push_back(c == '|' ? ' ' : c);
        AppendLine(CollapseSpaces(row), /*new_line=*/true);
        continue;
      }
      if (para_.empty()) after_list = false;
      AppendLine(trimmed, /*new_line=*/false);
    }
    if (in_fence || in_indented_code) EmitCode();
    FlushParagraph();

    Document doc;
    doc.source = std::move(source);
    TrimTrailing();
    doc.text = std::move(out_);
    doc.sections = sections_.Finish(doc.text);
    std::string title = front_matter_title_.empty() ? first_h1_ : front_matter_title_;
    if (title.empty()) title = StemOf(doc.source);
    doc.title = std::string(TruncateUtf8(title, 4 * kMaxTitleBytes));
    return doc;
  }

 private:
  size_t SkipFrontMatter(const std::vector<std::string_view>& lines) {
    if (lines.empty() || TrimAscii(lines[0]) != "---") return 0;
    for (size_t line_idx = 1; line_idx < lines.size(); ++line_idx) {
      std::string_view line = TrimAscii(lines[line_idx]);
      if (line == "---" || line == "...") {
        for (size_t meta_idx = 1; meta_idx < line_idx; ++meta_idx) {
          std::string_view meta = lines[meta_idx];
          if (meta.substr(0, 6) == "title:") {
            std::string_view value = TrimAscii(meta.substr(6));
            if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') &&
                value.back() == value[0]) {
              value = value.substr(1, value.size() - 2);
            }
            front_matter_title_ = CollapseSpaces(value);
          }
        }
        return line_idx + 1;
      }
    }
    return 0;  // no closing marker: not front matter
  }

  void AppendLine(std::string_view line, bool new_line) {
    if (!para_.empty()) para_.push_back(new_line ? '\n' : ' ');
    para_.append(line);
  }

  void AppendCodeLine(std::string_view line) {
    code_.append(line);
    code_.push_back('\n');
  }

  void StartBlock() {
    TrimTrailing();
    if (!out_.empty()) out_.append("\n\n");
  }

  void TrimTrailing() {
    size_t end = out_.size();
    while (end > 0 && IsAsciiSpace(out_[end - 1])) --end;
    out_.resize(end);
  }

  void EmitCode() {
    // Drop leading/trailing blank lines, keep the rest verbatim.
    std::string_view code = code_;
    while (!code.empty()) {
      size_t nl = code.find('\n');
      if (nl == std::string_view::npos || !IsBlank(code.substr(0, nl))) break;
      code.remove_prefix(nl + 1);
    }
    size_t end = code.size();
    while (end > 0 && IsAsciiSpace(code[end - 1])) --end;
    code = code.substr(0, end);
    if (!code.empty()) {
      StartBlock();
      out_.append(code);
    }
    code_.clear();
  }

  void EmitHeading(int level, std::string_view raw) {
    std::string text = CollapseSpaces(InlineRenderer(raw).Render());
    if (text.empty()) return;
    StartBlock();
    sections_.OnHeading(level, text, out_.size());
    out_.append(text);
    if (level == 1 && first_h1_.empty()) first_h1_ = text;
  }

  void FlushParagraph() {
    para_is_list_ = false;
    if (para_.empty()) return;
    std::string text = InlineRenderer(para_).Render();
    para_.clear();
    std::string_view trimmed = TrimAscii(text);
    if (trimmed.empty()) return;
    StartBlock();
    out_.append(trimmed);
  }

  std::string out_;
  std::string para_;
  bool para_is_list_ = false;
  std::string code_;
  size_t fence_indent_ = 0;
  SectionTracker sections_;
  std::string front_matter_title_;
  std::string first_h1_;
};

}  // namespace

// ---------------------------------------------------------------------------

Format DetectFormat(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return Format::kHtml;
  if (ext == ".md" || ext == ".markdown") return Format::kMarkdown;
  if (ext.empty() || ext == ".txt" || ext == ".text" || ext == ".rst") return Format::kText;
  if (ext == ".jsonl" || ext == ".ndjson") return Format::kJsonl;
  return Format::kUnknown;
}

bool LooksBinary(std::string_view bytes) {
  const std::string_view sample = bytes.substr(0, kBinarySniffBytes);
  if (sample.find('\0') != std::string_view::npos) return true;
  if (sample.empty()) return false;
  size_t control = 0;
  size_t invalid = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(sample.data());
  const auto* end = p + sample.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' &&
           c != 0x1B) || c == 0x7F) {
        ++control;
      }
      ++p;
      continue;
    }
    char32_t cp;
    size_t len = DecodeUtf8(p, end, &cp);
    if (len == 0) {
      // A sequence cut by the end of the sample is not evidence.
      if (bytes.size() > sample.size() && end - p < 4) break;
      ++invalid;
      len = 1;
    }
    p += len;
  }
  return control * 10 > sample.size() || (control + invalid) * 10 > sample.size() * 3;
}

Result<Document> ParseHtml(std::string_view bytes, std::string source) {
  QUARRY_RETURN_IF_ERROR(CheckInput(bytes));
  std::string input = RepairUtf8(bytes);
  try {
    if (std::string capped = CapHtmlNesting(input); !capped.empty()) input = std::move(capped);
    GumboArena arena;
    GumboOptions options = kGumboDefaultOptions;
    options.allocator = &GumboArena::Allocate;
    options.deallocator = &GumboArena::Deallocate;
    options.userdata = &arena;
    options.max_errors = 0;  // we never read the error list
    GumboOutput* output = gumbo_parse_with_options(&options, input.data(), input.size());
    if (output == nullptr) return Status::Internal("HTML parser returned no tree");
    // The arena frees the tree; gumbo_destroy_output is never called.
    return HtmlExtractor().Run(output->document, std::move(source));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory while parsing HTML");
  }
}

Result<Document> ParseMarkdown(std::string_view bytes, std::string source) {
  QUARRY_RETURN_IF_ERROR(CheckInput(bytes));
  const std::string input = RepairUtf8(bytes);
  return MarkdownParser().Parse(input, std::move(source));
}

Result<Document> ParseText(std::string_view bytes, std::string source) {
  QUARRY_RETURN_IF_ERROR(CheckInput(bytes));
  const std::string input = RepairUtf8(bytes);
  Document doc;
  doc.source = std::move(source);
  std::string& out = doc.text;
  out.reserve(input.size());
  // Lines keep their breaks; runs of blank lines become one blank line.
  size_t pos = 0;
  bool blank_run = false;
  const std::string_view in = input;
  while (pos < in.size()) {
    size_t end = in.find('\n', pos);
    if (end == std::string_view::npos) end = in.size();
    std::string_view line = in.substr(pos, end - pos);
    pos = end + 1;
    size_t line_end = line.size();
    while (line_end > 0 && IsAsciiSpace(line[line_end - 1])) --line_end;
    line = line.substr(0, line_end);
    if (line.empty()) {
      blank_run = !out.empty();
      continue;
    }
    if (!out.empty()) out.append(blank_run ? "\n\n" : "\n");
    blank_run = false;
    out.append(line);
    if (doc.title.empty()) doc.title = std::string(TruncateUtf8(TrimAscii(line), kMaxTitleBytes));
  }
  if (!out.empty()) doc.sections.push_back(SectionSpan{"", 0, out.size()});
  return doc;
}

Result<Document> ParseJsonlLine(std::string_view line, std::string source) {
  if (IsBlank(line)) return Status::InvalidArgument("empty line");
  try {
    const nlohmann::json record = nlohmann::json::parse(line.begin(), line.end(), nullptr,
                                                        /*allow_exceptions=*/false);
    if (record.is_discarded()) {
      return Status::InvalidArgument("not valid JSON (truncated or malformed line)");
    }
    if (!record.is_object()) return Status::InvalidArgument("JSON record is not an object");
    Document doc;
    doc.source = std::move(source);
    auto id = record.find("_id");
    if (id == record.end() || id->is_null()) {
      return Status::InvalidArgument("record has no \"_id\"");
    }
    if (id->is_string()) {
      doc.doc_id = id->get<std::string>();
    } else if (id->is_number()) {
      doc.doc_id = id->dump();
    } else {
      return Status::InvalidArgument("\"_id\" must be a string or a number");
    }
    if (doc.doc_id.empty()) return Status::InvalidArgument("\"_id\" is empty");
    auto title = record.find("title");
    if (title != record.end() && !title->is_null()) {
      if (!title->is_string()) return Status::InvalidArgument("\"title\" must be a string");
      doc.title = RepairUtf8(CollapseSpaces(title->get_ref<const std::string&>()));
    }
    auto text = record.find("text");
    if (text == record.end() || !text->is_string()) {
      return Status::InvalidArgument("record has no string \"text\"");
    }
    doc.text = RepairUtf8(TrimAscii(text->get_ref<const std::string&>()));
    doc.doc_id = RepairUtf8(doc.doc_id);
    auto metadata = record.find("metadata");
    if (metadata != record.end() && !metadata->is_null()) {
      if (!metadata->is_object()) return Status::InvalidArgument("\"metadata\" must be an object");
      if (!metadata->empty()) {
        doc.metadata = metadata->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (doc.metadata.size() > kMaxMetadataBytes) {
          return Status::InvalidArgument("\"metadata\" is larger than " +
                                         std::to_string(kMaxMetadataBytes) + " bytes");
        }
      }
    }
    if (!doc.text.empty()) doc.sections.push_back(SectionSpan{"", 0, doc.text.size()});
    return doc;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("bad JSON record: ") + e.what());
  }
}

Status LoadFile(const std::filesystem::path& path, const DocumentSink& sink,
                LoadFileStats* stats, uint64_t max_bytes) {
  LoadFileStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  const std::string path_str = path.string();
  const Format format = DetectFormat(path);
  if (format == Format::kUnknown) {
    return Status::InvalidArgument(path_str + ": unsupported file type '" +
                                   path.extension().string() +
                                   "' (expected .html, .md, .txt or .jsonl)");
  }
  QUARRY_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, max_bytes));
  if (IsBlank(bytes)) return Status::InvalidArgument(path_str + ": file is empty");
  if (LooksBinary(bytes)) {
    return Status::InvalidArgument(path_str + ": looks like a binary file, not text");
  }

  if (format == Format::kJsonl) {
    const std::string_view all = bytes;
    size_t pos = 0;
    uint64_t line_no = 0;
    while (pos < all.size()) {
      size_t end = all.find('\n', pos);
      if (end == std::string_view::npos) end = all.size();
      std::string_view line = all.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (IsBlank(line)) continue;
      std::string source = path_str + ":" + std::to_string(line_no);
      Result<Document> doc = ParseJsonlLine(line, source);
      if (!doc.ok()) {
        if (stats->bad_lines++ == 0) {
          stats->first_bad_line_error = source + ": " + doc.status().message();
        }
        continue;
      }
      ++stats->documents;
      QUARRY_RETURN_IF_ERROR(sink(std::move(doc).value()));
    }
    return Status::OK();
  }

  Result<Document> doc = format == Format::kHtml       ? ParseHtml(bytes, path_str)
                         : format == Format::kMarkdown ? ParseMarkdown(bytes, path_str)
                                                       : ParseText(bytes, path_str);
  if (!doc.ok()) return doc.status().WithContext(path_str);
  doc->doc_id = path_str;
  ++stats->documents;
  return sink(std::move(doc).value());
}

}  // namespace quarry::text
