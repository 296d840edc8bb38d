// Analyzer implementation. See analyzer.h for the contract.
//
// Hot path design: one left-to-right scan finds raw words; pure-ASCII words are
// lower-cased in place (no utf8proc), other words go through utf8proc's
// NFKC + case fold + mark stripping into a thread-local buffer (no per-word
// allocation), stop words are checked with a length switch, and stemming uses
// a thread-local libstemmer handle. The only allocation per emitted term is the
// std::string pushed into the output (SSO covers most terms).
#include "text/analyzer.h"

#include <libstemmer.h>
#include <utf8proc.h>

#include <cstring>
#include <memory>
#include <utility>

#include "text/utf8.h"

namespace quarry::text {
namespace {

using internal::DecodeUtf8;
using internal::IsAsciiAlnum;

constexpr size_t kMaxTermBytes = 64;

struct StemmerDeleter {
  void operator()(sb_stemmer* s) const { sb_stemmer_delete(s); }
};
using StemmerPtr = std::unique_ptr<sb_stemmer, StemmerDeleter>;

// One libstemmer handle per (thread, language): sb_stemmer is not thread-safe.
sb_stemmer* ThreadStemmer(const std::string& language) {
  struct Entry {
    std::string language;
    StemmerPtr stemmer;
  };
  thread_local std::vector<Entry> cache;
  for (Entry& entry : cache) {
    if (entry.language == language) return entry.stemmer.get();
  }
  StemmerPtr stemmer(sb_stemmer_new(language.c_str(), nullptr));
  sb_stemmer* raw = stemmer.get();
  cache.push_back(Entry{language, std::move(stemmer)});
  return raw;
}

// The Lucene / Pyserini English stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET).
bool IsStopWord(std::string_view w) {
  switch (w.size()) {
    case 1:
      return w[0] == 'a';
    case 2:
      return w == "an" || w == "as" || w == "at" || w == "be" || w == "by" || w == "if" ||
             w == "in" || w == "is" || w == "it" || w == "no" || w == "of" || w == "on" ||
             w == "or" || w == "to";
    case 3:
      return w == "and" || w == "are" || w == "but" || w == "for" || w == "not" ||
             w == "the" || w == "was";
    case 4:
      return w == "into" || w == "such" || w == "that" || w == "then" || w == "they" ||
             w == "this" || w == "will" || w == "with";
    case 5:
      return w == "their" || w == "there" || w == "these";
    default:
      return false;
  }
}

bool IsApostrophe(char32_t cp) {
  return cp == U'\'' || cp == U'\u2019' || cp == U'\u02BC' || cp == U'\uFF07';
}

// Letters, digits, marks (stripped later) and default-ignorables such as the
// soft hyphen and zero-width joiners (removed by UTF8PROC_IGNORE) continue a word.
bool IsWordCodePoint(char32_t cp) {
  const utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  switch (cat) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      return true;
    case UTF8PROC_CATEGORY_CF:
      return cp == 0x00AD || cp == 0x200C || cp == 0x200D;
    default:
      return false;
  }
}

bool IsLetterOrDigit(char32_t cp) {
  const utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

bool IsAsciiDigit(unsigned char c) { return c >= '0' && c <= '9'; }

constexpr utf8proc_option_t kNormalizeOptions = static_cast<utf8proc_option_t>(
    UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD |
    UTF8PROC_STRIPMARK | UTF8PROC_IGNORE);

class TermEmitter {
 public:
  TermEmitter(const AnalyzerOptions& options, sb_stemmer* stemmer,
              std::vector<std::string>* terms)
      : options_(options), stemmer_(stemmer), terms_(terms) {}

  // `word` is lower-case, normalized, and made of letters/digits (plus '.' or
  // ',' between ASCII digits).
  void Emit(std::string_view word, bool all_digits) {
    if (word.empty() || word.size() > kMaxTermBytes) return;
    if (options_.remove_stop_words && IsStopWord(word)) return;
    if (stemmer_ == nullptr || all_digits) {
      terms_->emplace_back(word);
      return;
    }
    const sb_symbol* stemmed = sb_stemmer_stem(
        stemmer_, reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
    if (stemmed == nullptr) {  // out of memory inside libstemmer: keep the word
      terms_->emplace_back(word);
      return;
    }
    const int len = sb_stemmer_length(stemmer_);
    if (len <= 0) return;
    terms_->emplace_back(reinterpret_cast<const char*>(stemmed), static_cast<size_t>(len));
  }

 private:
  const AnalyzerOptions& options_;
  sb_stemmer* stemmer_;
  std::vector<std::string>* terms_;
};

// Normalizes a non-ASCII raw word with utf8proc and emits the letter/digit runs
// of the result (NFKC can produce separators, e.g. "½" -> "1⁄2").
void EmitNonAscii(std::string_view raw, TermEmitter* emitter) {
  thread_local std::vector<utf8proc_int32_t> buffer;
  if (buffer.size() < raw.size() * 2 + 16) buffer.resize(raw.size() * 2 + 16);
  const auto* src = reinterpret_cast<const utf8proc_uint8_t*>(raw.data());
  utf8proc_ssize_t n = utf8proc_decompose(src, static_cast<utf8proc_ssize_t>(raw.size()),
                                          buffer.data(),
                                          static_cast<utf8proc_ssize_t>(buffer.size()),
                                          kNormalizeOptions);
  if (n < 0) return;  // cannot happen for valid UTF-8; drop the word
  if (static_cast<size_t>(n) > buffer.size()) {
    buffer.resize(static_cast<size_t>(n));
    n = utf8proc_decompose(src, static_cast<utf8proc_ssize_t>(raw.size()), buffer.data(),
                           static_cast<utf8proc_ssize_t>(buffer.size()), kNormalizeOptions);
    if (n < 0 || static_cast<size_t>(n) > buffer.size()) return;
  }
  // Reencode in place: composes, then writes UTF-8 bytes into the buffer.
  const utf8proc_ssize_t bytes = utf8proc_reencode(buffer.data(), n, kNormalizeOptions);
  if (bytes < 0) return;
  const std::string_view normalized(reinterpret_cast<const char*>(buffer.data()),
                                    static_cast<size_t>(bytes));
  const auto* p = reinterpret_cast<const unsigned char*>(normalized.data());
  const auto* end = p + normalized.size();
  const auto* word_begin = p;
  bool all_digits = true;
  while (p < end) {
    char32_t cp;
    size_t len = DecodeUtf8(p, end, &cp);
    if (len == 0) len = 1;
    const bool keep = len == 1 ? IsAsciiAlnum(*p) : IsLetterOrDigit(cp);
    if (!keep) {
      emitter->Emit(std::string_view(reinterpret_cast<const char*>(word_begin),
                                     static_cast<size_t>(p - word_begin)),
                    all_digits);
      word_begin = p + len;
      all_digits = true;
    } else if (!(len == 1 && IsAsciiDigit(*p))) {
      all_digits = false;
    }
    p += len;
  }
  emitter->Emit(std::string_view(reinterpret_cast<const char*>(word_begin),
                                 static_cast<size_t>(p - word_begin)),
                all_digits);
}

}  // namespace

Analyzer::Analyzer(AnalyzerOptions options) : options_(std::move(options)) {
  if (options_.stem) {
    stemmer_available_ = ThreadStemmer(options_.stemmer_language) != nullptr;
  }
}

Analyzer::~Analyzer() = default;

std::vector<std::string> Analyzer::Analyze(std::string_view text) const {
  std::vector<std::string> terms;
  Analyze(text, &terms);
  return terms;
}

void Analyzer::Analyze(std::string_view text, std::vector<std::string>* terms) const {
  sb_stemmer* stemmer =
      stemmer_available_ ? ThreadStemmer(options_.stemmer_language) : nullptr;
  TermEmitter emitter(options_, stemmer, terms);

  // `word` collects the current raw word without apostrophes.
  thread_local std::string word;
  word.clear();
  bool word_ascii = true;
  bool word_digits = true;
  // Byte length of `word` just before the last apostrophe dropped at its end
  // position (for possessive "'s" removal), or npos.
  size_t apostrophe_at = std::string::npos;

  auto flush = [&]() {
    if (word.empty()) return;
    // Possessive: a trailing "'s" is removed (Lucene EnglishPossessiveFilter).
    if (apostrophe_at != std::string::npos && apostrophe_at + 1 == word.size() &&
        apostrophe_at > 0 && (word.back() == 's' || word.back() == 'S')) {
      word.resize(apostrophe_at);
    }
    if (word_ascii) {
      for (char& c : word) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
      }
      emitter.Emit(word, word_digits);
    } else {
      EmitNonAscii(word, &emitter);
    }
    word.clear();
    word_ascii = true;
    word_digits = true;
    apostrophe_at = std::string::npos;
  };

  const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = begin + text.size();
  const auto* p = begin;
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (IsAsciiAlnum(c)) {
        word.push_back(static_cast<char>(c));
        if (!IsAsciiDigit(c)) word_digits = false;
        ++p;
        continue;
      }
      if ((c == '.' || c == ',') && !word.empty() && IsAsciiDigit(p[-1]) && p + 1 < end &&
          IsAsciiDigit(p[1])) {
        word.push_back(static_cast<char>(c));  // 3.14, 1,000 stay one token
        ++p;
        continue;
      }
      if (c == '\'' && !word.empty() && p + 1 < end && IsAsciiAlnum(p[1])) {
        apostrophe_at = word.size();
        ++p;
        continue;
      }
      flush();
      ++p;
      continue;
    }
    char32_t cp;
    const size_t len = DecodeUtf8(p, end, &cp);
    if (len == 0) {  // invalid byte: U+FFFD, a separator
      flush();
      ++p;
      continue;
    }
    if (IsWordCodePoint(cp)) {
      word.append(reinterpret_cast<const char*>(p), len);
      word_ascii = false;
      word_digits = false;
    } else if (IsApostrophe(cp) && !word.empty() && p + len < end) {
      // Keep going only if a word character follows.
      char32_t next;
      const size_t next_len = DecodeUtf8(p + len, end, &next);
      if (next_len == 1 ? IsAsciiAlnum(p[len]) : (next_len > 1 && IsWordCodePoint(next))) {
        apostrophe_at = word.size();
      } else {
        flush();
      }
    } else {
      flush();
    }
    p += len;
  }
  flush();
}

bool IsValidUtf8(std::string_view input) {
  const auto* p = reinterpret_cast<const unsigned char*>(input.data());
  const auto* end = p + input.size();
  while (p < end) {
    // ASCII fast path, 8 bytes at a time.
    while (end - p >= 8) {
      uint64_t block;
      std::memcpy(&block, p, 8);
      if (block & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p >= end) break;
    if (*p < 0x80) {
      ++p;
      continue;
    }
    char32_t cp;
    const size_t len = DecodeUtf8(p, end, &cp);
    if (len == 0) return false;
    p += len;
  }
  return true;
}

std::string RepairUtf8(std::string_view input) {
  if (IsValidUtf8(input) && input.find('\0') == std::string_view::npos) {
    return std::string(input);
  }
  std::string out;
  out.reserve(input.size() + 16);
  const auto* p = reinterpret_cast<const unsigned char*>(input.data());
  const auto* end = p + input.size();
  while (p < end) {
    if (*p == 0) {
      ++p;
      continue;
    }
    char32_t cp;
    const size_t len = DecodeUtf8(p, end, &cp);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++p;
      continue;
    }
    out.append(reinterpret_cast<const char*>(p), len);
    p += len;
  }
  return out;
}

}  // namespace quarry::text
