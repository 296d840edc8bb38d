// SentencePiece (XLM-R) tokenizer. See sentencepiece_tokenizer.h.
#include "model/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <string>
#include <utility>

namespace quarry::model {

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

Result<std::unique_ptr<Tokenizer>> SentencePieceTokenizer::Load(
    const std::filesystem::path& model_file) {
  const std::string file = model_file.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_file, ec)) {
    return Status::NotFound(file + ": not found");
  }
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = t->sp_->Load(file);
  if (!status.ok()) {
    return Status::InvalidArgument(file + ": not a valid SentencePiece model (" +
                                   status.ToString() + ")");
  }
  const int pieces = t->sp_->GetPieceSize();
  if (pieces <= 0) return Status::InvalidArgument(file + ": the model has no pieces");
  const int32_t mask_id = pieces + 1;
  t->vocab_size_ = static_cast<size_t>(pieces) + 2;

  std::vector<internal::AddedToken> specials;
  const std::pair<const char*, int32_t> names[] = {
      {"<s>", kBosId}, {"<pad>", kPadId}, {"</s>", kEosId}, {"<unk>", kUnkId}, {"<mask>", mask_id}};
  for (const auto& [name, id] : names) {
    internal::AddedToken a;
    a.content = name;
    a.id = id;
    specials.push_back(std::move(a));
  }
  t->specials_ = internal::AddedTokenMatcher(std::move(specials));

  using internal::TemplatePiece;
  t->post_.single = {TemplatePiece{false, 0, {kBosId}, 0}, TemplatePiece{true, 0, {}, 0},
                     TemplatePiece{false, 0, {kEosId}, 0}};
  t->post_.pair = {TemplatePiece{false, 0, {kBosId}, 0}, TemplatePiece{true, 0, {}, 0},
                   TemplatePiece{false, 0, {kEosId, kEosId}, 0}, TemplatePiece{true, 1, {}, 0},
                   TemplatePiece{false, 0, {kEosId}, 0}};
  return std::unique_ptr<Tokenizer>(std::move(t));
}

std::vector<int32_t> SentencePieceTokenizer::Tokenize(std::string_view text) const {
  thread_local std::string repaired;
  thread_local std::vector<int> pieces;
  std::vector<int32_t> ids;
  const std::string_view input = internal::RepairUtf8(text, &repaired);
  specials_.Split(
      input,
      [&](std::string_view piece) {
        pieces.clear();
        if (!sp_->Encode(piece, &pieces).ok()) return;  // only fails when unloaded
        for (int id : pieces) {
          // HF: spm_id + fairseq_offset if spm_id else unk_token_id.
          ids.push_back(id == 0 ? kUnkId : static_cast<int32_t>(id) + 1);
        }
      },
      [&](int32_t id) { ids.push_back(id); });
  return ids;
}

}  // namespace quarry::model
