// BERT-family WordPiece tokenizer, reproducing Hugging Face `tokenizers`
// (BertNormalizer + BertPreTokenizer + WordPiece + Bert/Template processing).
//
// Pipeline for one text (the order HF's Rust tokenizer uses):
//   1. invalid UTF-8 bytes become U+FFFD;
//   2. added tokens with `normalized: false` ([CLS], [MASK], ...) are cut out
//      of the raw text (leftmost-longest; lstrip/rstrip/single_word honoured);
//   3. every other piece is normalized: clean text (drop NUL, U+FFFD and
//      Cc/Cf/Co/Cs characters except \t\n\r; Unicode White_Space becomes ' '),
//      pad CJK ideographs with spaces, strip accents (per-character NFD, drop
//      Mn), lower-case (full mapping). Categories are HF's (its Unicode data
//      are older than utf8proc's; see wordpiece.cc);
//   4. added tokens with `normalized: true` are cut out of the normalized text;
//   5. the rest is split on White_Space (dropped) and punctuation (ASCII
//      punctuation or any Unicode P* character, kept as one-character words);
//   6. each word is matched greedily, longest piece first, against the vocab
//      (`##` continuations); a word with no full cover, or longer than
//      `max_input_chars_per_word` characters, becomes the unknown token.
//
// This header also holds the machinery both tokenizers share (added-token
// matching, post-processing templates, HF's truncation rule); those are
// defined in tokenizer.cc.
//
// Thread-safety: immutable after construction; Tokenize/Encode may run on many
// threads at once (per-thread scratch buffers only).
#ifndef QUARRY_MODEL_WORDPIECE_H_
#define QUARRY_MODEL_WORDPIECE_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/tokenizer.h"
#include "quarry/status.h"

namespace quarry::model {
namespace internal {

// Returns `text` itself when it is valid UTF-8, else a copy in `*scratch` with
// each invalid byte replaced by U+FFFD.
std::string_view RepairUtf8(std::string_view text, std::string* scratch);
bool IsValidUtf8(std::string_view text);
// Rust's char::is_whitespace: the Unicode White_Space property.
bool IsWhiteSpace(char32_t cp);

// One entry of tokenizer.json's "added_tokens" (or a special token).
struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

// Finds added tokens in text the way HF's AddedVocabulary does: leftmost
// match, longest token at that position; a single_word token is skipped when
// glued to a letter, digit or '_'; lstrip/rstrip extend the match over
// neighbouring White_Space.
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  bool empty() const { return tokens_.empty(); }

  // Calls on_text(std::string_view) for each non-empty piece between matches
  // and on_token(int32_t id) for each match, in text order. REQUIRES: `text` is
  // valid UTF-8.
  template <typename OnText, typename OnToken>
  void Split(std::string_view text, OnText&& on_text, OnToken&& on_token) const {
    if (tokens_.empty()) {
      if (!text.empty()) on_text(text);
      return;
    }
    size_t emitted = 0;  // text[0, emitted) has been handed out
    size_t pos = 0;
    while (pos < text.size()) {
      if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
        ++pos;
        continue;
      }
      size_t begin = 0;
      size_t end = 0;
      const AddedToken* token = MatchAt(text, pos, emitted, &begin, &end);
      if (token == nullptr) {
        ++pos;
        continue;
      }
      pos = end;
      if (token == &kRejected) continue;  // single_word match glued to a word
      if (begin > emitted) on_text(text.substr(emitted, begin - emitted));
      on_token(token->id);
      emitted = end;
    }
    if (emitted < text.size()) on_text(text.substr(emitted));
  }

 private:
  // The longest token matching at `pos` (nullptr: none). On a match sets
  // [*begin, *end) to the span it consumes (after lstrip/rstrip); returns
  // &kRejected, with *end past the match, when single_word forbids it.
  const AddedToken* MatchAt(std::string_view text, size_t pos, size_t emitted, size_t* begin,
                            size_t* end) const;

  static const AddedToken kRejected;
  std::vector<AddedToken> tokens_;  // longest content first
  std::array<bool, 256> first_byte_{};
};

// One element of a post-processing template: a special token run or one of
// the input sequences (0 = first, 1 = second).
struct TemplatePiece {
  bool is_sequence = false;
  int sequence = 0;
  std::vector<int32_t> ids;  // special token ids (when !is_sequence)
  int32_t type_id = 0;
};

// HF's TemplateProcessing (BertProcessing and RobertaProcessing are special
// cases of it).
struct PostProcessor {
  std::vector<TemplatePiece> single;
  std::vector<TemplatePiece> pair;

  size_t AddedTokens(bool is_pair) const;
  Encoding Apply(const std::vector<int32_t>& a, const std::vector<int32_t>* b) const;
};

// HF's truncate_encodings for a pair: how many tokens of each sequence to keep
// so that keep_a + keep_b <= budget. only_first/only_second fall back to
// longest_first where HF would fail (the chosen sequence is too short).
void TruncationLengths(size_t len_a, size_t len_b, size_t budget, Truncation strategy,
                       size_t* keep_a, size_t* keep_b);

// Implements Encode/EncodePair on top of Tokenize() and a PostProcessor.
class TokenizerBase : public Tokenizer {
 public:
  Encoding Encode(std::string_view text, size_t max_length) const override;
  Encoding EncodePair(std::string_view first, std::string_view second, size_t max_length,
                      Truncation truncation) const override;
  size_t num_special_tokens_single() const override { return post_.AddedTokens(false); }

 protected:
  PostProcessor post_;
};

// Open-addressing hash map from token text to id (no per-lookup allocation).
class PieceMap {
 public:
  void Build(const std::vector<std::pair<std::string_view, int32_t>>& entries);
  // -1 when absent.
  int32_t Find(std::string_view key) const;
  size_t max_key_bytes() const { return max_key_bytes_; }

 private:
  struct Slot {
    uint32_t offset = 0;
    uint32_t length = 0;
    int32_t id = -1;  // -1: empty
    uint32_t hash_hi = 0;
  };
  std::string arena_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t max_key_bytes_ = 0;
};

}  // namespace internal

struct WordPieceOptions {
  // BertNormalizer.
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;
  bool lowercase = true;
  // WordPiece model.
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

class WordPieceTokenizer final : public internal::TokenizerBase {
 public:
  // From a Hugging Face tokenizer.json whose model is WordPiece. Errors name
  // the file and the field.
  static Result<std::unique_ptr<Tokenizer>> FromTokenizerJson(const std::filesystem::path& file);
  // From `dir`/vocab.txt plus the optional `dir`/tokenizer_config.json.
  static Result<std::unique_ptr<Tokenizer>> FromVocabTxt(const std::filesystem::path& dir);

  // `vocab`: token -> id. `added`: added tokens (special or not).
  static Result<std::unique_ptr<WordPieceTokenizer>> Create(
      WordPieceOptions options, const std::vector<std::pair<std::string, int32_t>>& vocab,
      std::vector<internal::AddedToken> added, internal::PostProcessor post, int32_t pad_id);

  std::vector<int32_t> Tokenize(std::string_view text) const override;
  int32_t pad_id() const override { return pad_id_; }
  size_t vocab_size() const override { return vocab_size_; }

  // BertNormalizer alone (for tests): the normalized UTF-8 of valid `text`.
  std::string Normalize(std::string_view text) const;

 private:
  WordPieceTokenizer() = default;

  void NormalizeInto(std::string_view text, std::string* out) const;
  void PreTokenizeAndModel(std::string_view normalized, std::vector<int32_t>* ids) const;
  void ModelWord(std::string_view word, size_t chars, std::vector<int32_t>* ids) const;

  WordPieceOptions options_;
  internal::PieceMap starts_;     // pieces that begin a word
  internal::PieceMap continues_;  // continuation pieces, keyed without the prefix
  internal::AddedTokenMatcher raw_added_;
  internal::AddedTokenMatcher normalized_added_;
  int32_t unk_id_ = 0;
  int32_t pad_id_ = 0;
  size_t vocab_size_ = 0;
  // ASCII handling, precomputed from the options.
  enum : uint8_t { kDrop, kSpace, kPunct, kWord };
  std::array<uint8_t, 128> ascii_norm_{};    // after normalization: kDrop/kSpace/kWord
  std::array<char, 128> ascii_lower_{};
};

}  // namespace quarry::model

#endif  // QUARRY_MODEL_WORDPIECE_H_
