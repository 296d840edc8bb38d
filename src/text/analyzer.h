// Analyzer: turns text into BM25 index terms.
//
// Pipeline: UTF-8 repair -> Unicode NFKC + case folding + accent stripping
// (utf8proc) -> split into words on anything that is not a letter or digit
// (Unicode categories L*, N*; an apostrophe inside a word is dropped, so
// "don't" -> "dont", possessive "'s" removed) -> drop English stop words ->
// Snowball stemming (libstemmer, "english"). Tokens longer than 64 bytes are
// dropped (hashes, base64 noise).
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

 private:
  AnalyzerOptions options_;
};

// Returns `input` with every invalid UTF-8 sequence replaced by U+FFFD and NUL
// bytes removed. Valid input comes back unchanged.
std::string RepairUtf8(std::string_view input);
bool IsValidUtf8(std::string_view input);

}  // namespace quarry::text

#endif  // QUARRY_TEXT_ANALYZER_H_
