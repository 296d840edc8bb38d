#include "embed/caching_embedder.h"

#include <unordered_map>

#include "cache/codec.h"

namespace quarry::embed {

std::string Embedder::InputKey(std::string_view text, TextKind /*kind*/) const {
  return std::string(text);
}

Status Embedder::EmbedTokens(std::span<const std::vector<int32_t>> /*ids*/,
                             std::vector<std::vector<float>>* /*out*/) {
  return Status::Unsupported("model '" + model_id() + "' takes text only: send text");
}

Status CachingEmbedder::Embed(std::span<const std::string_view> texts, TextKind kind,
                              std::vector<std::vector<float>>* out) {
  const cache::Kind cache_kind =
      kind == TextKind::kQuery ? cache::Kind::kQueryEmbedding : cache::Kind::kChunkEmbedding;
  if (!cache_->enabled(cache_kind)) {
    computed_.fetch_add(texts.size(), std::memory_order_relaxed);
    return inner_->Embed(texts, kind, out);
  }
  const std::string prefix =
      inner_->fingerprint() + (kind == TextKind::kQuery ? ":q:" : ":d:");
  std::vector<std::string> keys(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) keys[i] = prefix + inner_->InputKey(texts[i], kind);

  std::vector<std::optional<std::string>> found;
  cache_->GetMany(cache_kind, keys, &found);
  const size_t d = inner_->dim();
  out->assign(texts.size(), {});
  // Misses, each distinct key once: key -> index into `todo`.
  std::unordered_map<std::string_view, size_t> pending;
  std::vector<size_t> todo;               // first text index of each distinct miss
  std::vector<size_t> miss_of(texts.size(), SIZE_MAX);
  for (size_t i = 0; i < texts.size(); ++i) {
    if (found[i].has_value() && cache::DecodeFloats(*found[i], d, &(*out)[i])) continue;
    auto [it, inserted] = pending.emplace(keys[i], todo.size());
    if (inserted) todo.push_back(i);
    miss_of[i] = it->second;
  }
  from_cache_.fetch_add(texts.size() - todo.size(), std::memory_order_relaxed);
  if (todo.empty()) return Status::OK();

  std::vector<std::string_view> miss_texts;
  miss_texts.reserve(todo.size());
  for (size_t i : todo) miss_texts.push_back(texts[i]);
  std::vector<std::vector<float>> vectors;
  QUARRY_RETURN_IF_ERROR(inner_->Embed(miss_texts, kind, &vectors));
  computed_.fetch_add(todo.size(), std::memory_order_relaxed);

  std::vector<std::string> put_keys, put_values;
  put_keys.reserve(todo.size());
  put_values.reserve(todo.size());
  for (size_t j = 0; j < todo.size(); ++j) {
    put_keys.push_back(keys[todo[j]]);
    put_values.push_back(cache::EncodeFloats(vectors[j]));
  }
  cache_->PutMany(cache_kind, put_keys, put_values);
  for (size_t i = 0; i < texts.size(); ++i) {
    if (miss_of[i] != SIZE_MAX) (*out)[i] = vectors[miss_of[i]];
  }
  return Status::OK();
}

}  // namespace quarry::embed
