// Tokenizer::Load and the machinery both tokenizers share: UTF-8 repair,
// added-token matching, post-processing templates and HF's truncation rule.
// See tokenizer.h and wordpiece.h.
#include "model/tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <string>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "model/sentencepiece_tokenizer.h"
#include "model/wordpiece.h"
#include "text/utf8.h"

namespace quarry::model {
namespace internal {
namespace {

using text::internal::AppendUtf8;
using text::internal::DecodeUtf8;

// Rust's char::is_alphanumeric || '_' (HF's word test for single_word tokens).
bool IsWordChar(char32_t cp) {
  if (cp < 0x80) return text::internal::IsAsciiAlnum(static_cast<unsigned char>(cp)) || cp == '_';
  const utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

// The code point ending just before `pos` (REQUIRES: pos > 0, valid UTF-8);
// stores its first byte's offset in *start.
char32_t CodePointBefore(std::string_view s, size_t pos, size_t* start) {
  size_t b = pos - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  char32_t cp = 0xFFFD;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  if (DecodeUtf8(p + b, p + pos, &cp) == 0) cp = 0xFFFD;
  *start = b;
  return cp;
}

// The code point starting at `pos` (REQUIRES: pos < s.size()); its length in *len.
char32_t CodePointAt(std::string_view s, size_t pos, size_t* len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  char32_t cp = 0xFFFD;
  *len = DecodeUtf8(p + pos, p + s.size(), &cp);
  if (*len == 0) {
    *len = 1;
    cp = 0xFFFD;
  }
  return cp;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    char32_t cp;
    const size_t n = DecodeUtf8(p, end, &cp);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

std::string_view RepairUtf8(std::string_view s, std::string* scratch) {
  if (IsValidUtf8(s)) return s;
  scratch->clear();
  scratch->reserve(s.size() + 8);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    char32_t cp;
    const size_t n = *p < 0x80 ? 1 : DecodeUtf8(p, end, &cp);
    if (n == 0) {
      AppendUtf8(0xFFFD, scratch);
      ++p;
    } else {
      scratch->append(reinterpret_cast<const char*>(p), n);
      p += n;
    }
  }
  return *scratch;
}

// ---- AddedTokenMatcher ----

const AddedToken AddedTokenMatcher::kRejected{};

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  tokens_.erase(std::remove_if(tokens_.begin(), tokens_.end(),
                               [](const AddedToken& t) { return t.content.empty(); }),
                tokens_.end());
  std::stable_sort(tokens_.begin(), tokens_.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.content.size() > b.content.size();
  });
  first_byte_.fill(false);
  for (const AddedToken& t : tokens_) first_byte_[static_cast<unsigned char>(t.content[0])] = true;
}

const AddedToken* AddedTokenMatcher::MatchAt(std::string_view text, size_t pos, size_t emitted,
                                             size_t* begin, size_t* end) const {
  const AddedToken* token = nullptr;
  for (const AddedToken& t : tokens_) {
    if (text.size() - pos >= t.content.size() &&
        text.compare(pos, t.content.size(), t.content) == 0) {
      token = &t;
      break;
    }
  }
  if (token == nullptr) return nullptr;
  size_t start = pos;
  size_t stop = pos + token->content.size();
  if (token->single_word) {
    size_t prev = 0;
    size_t len = 0;
    const bool start_ok = start == 0 || !IsWordChar(CodePointBefore(text, start, &prev));
    const bool stop_ok = stop == text.size() || !IsWordChar(CodePointAt(text, stop, &len));
    if (!start_ok || !stop_ok) {
      *end = stop;
      return &kRejected;
    }
  }
  if (token->lstrip) {
    size_t s = start;
    while (s > 0) {
      size_t prev = 0;
      if (!IsWhiteSpace(CodePointBefore(text, s, &prev))) break;
      s = prev;
    }
    start = std::max(s, emitted);
  }
  if (token->rstrip) {
    while (stop < text.size()) {
      size_t len = 0;
      if (!IsWhiteSpace(CodePointAt(text, stop, &len))) break;
      stop += len;
    }
  }
  *begin = start;
  *end = stop;
  return token;
}

// ---- PostProcessor ----

size_t PostProcessor::AddedTokens(bool is_pair) const {
  size_t n = 0;
  for (const TemplatePiece& p : is_pair ? pair : single) {
    if (!p.is_sequence) n += p.ids.size();
  }
  return n;
}

Encoding PostProcessor::Apply(const std::vector<int32_t>& a, const std::vector<int32_t>* b) const {
  Encoding out;
  const size_t total = a.size() + (b ? b->size() : 0) + AddedTokens(b != nullptr);
  out.ids.reserve(total);
  out.type_ids.reserve(total);
  for (const TemplatePiece& p : b ? pair : single) {
    const std::vector<int32_t>* src = &p.ids;
    if (p.is_sequence) {
      src = p.sequence == 0 ? &a : b;
      if (src == nullptr) continue;
    }
    out.ids.insert(out.ids.end(), src->begin(), src->end());
    out.type_ids.insert(out.type_ids.end(), src->size(), p.type_id);
  }
  return out;
}

// ---- Truncation (HF's truncate_encodings, stride 0, direction right) ----

void TruncationLengths(size_t len_a, size_t len_b, size_t budget, Truncation strategy,
                       size_t* keep_a, size_t* keep_b) {
  *keep_a = len_a;
  *keep_b = len_b;
  if (budget == 0) {  // HF empties both sequences, whatever the strategy
    *keep_a = *keep_b = 0;
    return;
  }
  if (len_a + len_b <= budget) return;
  const size_t to_remove = len_a + len_b - budget;
  if (strategy == Truncation::kOnlyFirst && len_a > to_remove) {
    *keep_a = len_a - to_remove;
    return;
  }
  if (strategy == Truncation::kOnlySecond && len_b > to_remove) {
    *keep_b = len_b - to_remove;
    return;
  }
  // Longest first (also the fallback where HF fails with "sequence too short").
  size_t n1 = len_a;
  size_t n2 = len_b;
  const bool swap = n1 > n2;
  if (swap) std::swap(n1, n2);
  n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = budget / 2;
    n2 = n1 + budget % 2;
  }
  if (swap) std::swap(n1, n2);
  *keep_a = std::min(len_a, n1);
  *keep_b = std::min(len_b, n2);
}

// ---- TokenizerBase ----

Encoding TokenizerBase::Encode(std::string_view text, size_t max_length) const {
  std::vector<int32_t> ids = Tokenize(text);
  const size_t added = post_.AddedTokens(false);
  const size_t budget = max_length > added ? max_length - added : 0;
  if (ids.size() > budget) ids.resize(budget);
  return post_.Apply(ids, nullptr);
}

Encoding TokenizerBase::EncodePair(std::string_view first, std::string_view second,
                                   size_t max_length, Truncation truncation) const {
  std::vector<int32_t> a = Tokenize(first);
  std::vector<int32_t> b = Tokenize(second);
  const size_t added = post_.AddedTokens(true);
  const size_t budget = max_length > added ? max_length - added : 0;
  size_t keep_a = 0;
  size_t keep_b = 0;
  TruncationLengths(a.size(), b.size(), budget, truncation, &keep_a, &keep_b);
  a.resize(keep_a);
  b.resize(keep_b);
  return post_.Apply(a, &b);
}

}  // namespace internal

// ---- Tokenizer::Load ----

namespace {

bool Exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

// config.json's "model_type" ("" when the file or the field is absent).
Result<std::string> ModelType(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "config.json";
  if (!Exists(path)) return std::string();
  QUARRY_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, uint64_t{64} << 20));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument(path.string() + ": not a valid JSON object");
  }
  auto it = j.find("model_type");
  if (it == j.end() || !it->is_string()) return std::string();
  return it->get<std::string>();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::NotFound("tokenizer folder '" + dir.string() + "' does not exist");
  }
  const std::filesystem::path tokenizer_json = dir / "tokenizer.json";
  const std::filesystem::path vocab_txt = dir / "vocab.txt";
  const std::filesystem::path spm_model = dir / "sentencepiece.bpe.model";
  QUARRY_ASSIGN_OR_RETURN(std::string model_type, ModelType(dir));

  if (model_type == "xlm-roberta") {
    if (!Exists(spm_model)) {
      return Status::NotFound(spm_model.string() +
                              ": not found (config.json says model_type xlm-roberta)");
    }
    return SentencePieceTokenizer::Load(spm_model);
  }
  if (Exists(tokenizer_json)) {
    auto result = WordPieceTokenizer::FromTokenizerJson(tokenizer_json);
    if (result.ok()) return result;
    // A non-WordPiece tokenizer.json beside an XLM-R SentencePiece model.
    if (result.status().code() == StatusCode::kUnsupported && Exists(spm_model) &&
        !Exists(vocab_txt)) {
      return SentencePieceTokenizer::Load(spm_model);
    }
    return result;
  }
  if (Exists(vocab_txt)) return WordPieceTokenizer::FromVocabTxt(dir);
  if (Exists(spm_model)) return SentencePieceTokenizer::Load(spm_model);
  return Status::NotFound(dir.string() +
                          ": no tokenizer.json, vocab.txt or sentencepiece.bpe.model");
}

Encoding Tokenizer::EncodeIds(std::span<const int32_t> ids, size_t max_length) const {
  // The special tokens alone: Encode of an empty text is [first..., last...]
  // with one leading token ([CLS] or <s>) and the rest trailing.
  Encoding specials = Encode("", max_length);
  Encoding out;
  if (specials.ids.empty()) {
    out.ids.assign(ids.begin(), ids.begin() + std::min(ids.size(), max_length));
  } else {
    const size_t room = max_length > specials.ids.size() ? max_length - specials.ids.size() : 0;
    out.ids.push_back(specials.ids[0]);
    out.ids.insert(out.ids.end(), ids.begin(), ids.begin() + std::min(ids.size(), room));
    out.ids.insert(out.ids.end(), specials.ids.begin() + 1, specials.ids.end());
  }
  out.type_ids.assign(out.ids.size(), 0);
  return out;
}

}  // namespace quarry::model
