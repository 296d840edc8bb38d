// Analyzer: turns text into BM25 index terms.
//
// Pipeline: UTF-8 repair -> Unicode NFKC + case folding + accent stripping
// (utf8proc) -> split into words on anything that is not a letter or digit
// (Unicode categories L*, N*; an apostrophe inside a word is dropped, so
// "don't" -> "dont", possessive "'s" removed; like Lucene's StandardTokenizer a
// '.' or ',' between two ASCII digits stays inside the token: "3.14", "1,000")
// -> drop English stop words (Lucene's English stop set) -> Snowball stemming
// (libstemmer, "english"; all-digit tokens are not stemmed). Tokens longer
// than 64 bytes are dropped (hashes, base64 noise). An unknown
// `stemmer_language` disables stemming (see stemmer_available()).
//
// Thread-safety: Analyze() is const and safe to call concurrently from many
// threads (stemmers are per-thread internally).
#ifndef QUARRY_TEXT_ANALYZER_H_
#define QUARRY_TEXT_ANALYZER_H_

#include <string>
#include <string_view>
#include <vector>

namespace quarry::text {

struct AnalyzerOptions {
  bool remove_stop_words = true;
  bool stem = true;
  std::string stemmer_language = "english";  // any libstemmer algorithm name
};

class Analyzer {
 public:
  explicit Analyzer(AnalyzerOptions options = {});
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  // Appends the terms of `text`, in order, to `terms` (duplicates kept).
  // Never fails: invalid UTF-8 is replaced by U+FFFD first.
  void Analyze(std::string_view text, std::vector<std::string>* terms) const;
  std::vector<std::string> Analyze(std::string_view text) const;

  const AnalyzerOptions& options() const { return options_; }
  // False when stemming was asked for but libstemmer lacks the language.
  bool stemmer_available() const { return stemmer_available_; }

 private:
  AnalyzerOptions options_;
  bool stemmer_available_ = false;
};

// Returns `input` with every invalid UTF-8 sequence replaced by U+FFFD and NUL
// bytes removed. Valid input comes back unchanged.
std::string RepairUtf8(std::string_view input);
bool IsValidUtf8(std::string_view input);

}  // namespace quarry::text

#endif  // QUARRY_TEXT_ANALYZER_H_
