// Tokenizers that reproduce Hugging Face's token ids exactly, for the encoder
// models Quarry runs (BERT-family WordPiece; XLM-RoBERTa SentencePiece).
//
// A Tokenizer is loaded from a Hugging Face model folder:
//   - WordPiece (BERT, MiniLM, BGE, E5, GTE): `tokenizer.json` (preferred) or
//     `vocab.txt` + optional `tokenizer_config.json` (do_lower_case,
//     strip_accents, tokenize_chinese_chars).
//   - SentencePiece (XLM-RoBERTa: bge-m3, multilingual-e5, bge-reranker-v2-m3):
//     `sentencepiece.bpe.model`, with fairseq's id layout (<s>=0 <pad>=1 </s>=2
//     <unk>=3, piece ids shifted by one, <mask> last).
// Encodings carry the model's special tokens ([CLS] a [SEP] / [CLS] a [SEP] b
// [SEP] with token type ids 0/1 for BERT; <s> a </s> / <s> a </s></s> b </s>
// for XLM-R, all type ids 0) and are truncated to `max_length` ids, special
// tokens included.
//
// Input text that is not valid UTF-8 is never an error: each invalid byte is
// read as U+FFFD.
//
// Thread-safety: a loaded Tokenizer is immutable; Encode* may be called from
// many threads at once.
#ifndef QUARRY_MODEL_TOKENIZER_H_
#define QUARRY_MODEL_TOKENIZER_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "quarry/status.h"

namespace quarry::model {

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;  // same length as ids
};

// How a pair that does not fit is shortened (HF's TruncationStrategy).
enum class Truncation {
  kLongestFirst,  // remove one token at a time from the longer sequence
  kOnlyFirst,
  kOnlySecond,
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads the tokenizer of the model folder `dir`. Errors name the missing or
  // malformed file.
  static Result<std::unique_ptr<Tokenizer>> Load(const std::filesystem::path& dir);

  // One sequence with special tokens, at most `max_length` ids.
  // REQUIRES: max_length >= number of special tokens added (2).
  virtual Encoding Encode(std::string_view text, size_t max_length) const = 0;

  // A sentence pair (cross-encoders), at most `max_length` ids.
  // REQUIRES: max_length >= number of special tokens added (3 or 4).
  virtual Encoding EncodePair(std::string_view first, std::string_view second,
                              size_t max_length,
                              Truncation truncation = Truncation::kLongestFirst) const = 0;

  // `ids` (token ids of one text, without special tokens) wrapped in the
  // special tokens Encode adds and truncated as Encode truncates: for any
  // text short enough, EncodeIds(Tokenize(text), n) == Encode(text, n).
  // REQUIRES: max_length >= num_special_tokens_single().
  Encoding EncodeIds(std::span<const int32_t> ids, size_t max_length) const;

  // Token ids of `text` without special tokens and without truncation.
  virtual std::vector<int32_t> Tokenize(std::string_view text) const = 0;

  virtual int32_t pad_id() const = 0;
  virtual size_t vocab_size() const = 0;
  // Number of special tokens Encode adds to one sequence (2 for both kinds).
  virtual size_t num_special_tokens_single() const = 0;
};

}  // namespace quarry::model

#endif  // QUARRY_MODEL_TOKENIZER_H_
