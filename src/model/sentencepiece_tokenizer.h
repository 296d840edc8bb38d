// XLM-RoBERTa's SentencePiece tokenizer (bge-m3, multilingual-e5,
// bge-reranker-v2-m3), reproducing Hugging Face's XLMRobertaTokenizer.
//
// Ids follow fairseq's layout: <s>=0 <pad>=1 </s>=2 <unk>=3, every
// SentencePiece id shifted by one (SentencePiece's own unknown, id 0, maps to
// 3), <mask> = SentencePiece vocab size + 1. The five special token strings
// typed in the text are cut out first and become their ids; each piece between
// them is encoded by SentencePiece on its own (as HF's slow tokenizer does).
// Single: <s> a </s>; pair: <s> a </s></s> b </s>; all type ids 0.
//
// Thread-safety: immutable after Load; SentencePieceProcessor::Encode is const
// and safe to call from many threads.
#ifndef QUARRY_MODEL_SENTENCEPIECE_TOKENIZER_H_
#define QUARRY_MODEL_SENTENCEPIECE_TOKENIZER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "model/wordpiece.h"
#include "quarry/status.h"

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace quarry::model {

class SentencePieceTokenizer final : public internal::TokenizerBase {
 public:
  // Loads `model_file` (sentencepiece.bpe.model). Errors name the file.
  static Result<std::unique_ptr<Tokenizer>> Load(const std::filesystem::path& model_file);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> Tokenize(std::string_view text) const override;
  int32_t pad_id() const override { return kPadId; }
  size_t vocab_size() const override { return vocab_size_; }

  static constexpr int32_t kBosId = 0;
  static constexpr int32_t kPadId = 1;
  static constexpr int32_t kEosId = 2;
  static constexpr int32_t kUnkId = 3;

 private:
  SentencePieceTokenizer() = default;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  internal::AddedTokenMatcher specials_;
  size_t vocab_size_ = 0;
};

}  // namespace quarry::model

#endif  // QUARRY_MODEL_SENTENCEPIECE_TOKENIZER_H_
