// Text -> vectors, and (query, passage) -> relevance scores: the interfaces the
// rest of Quarry embeds and reranks through, and their local implementation
// (a Hugging Face model folder run by model::Encoder).
//
// LocalEmbedder tokenizes in the caller's thread and hands token sequences to a
// DynamicBatcher, which runs one forward pass at a time over batches formed
// from everything submitted meanwhile, so many concurrent callers share
// batches. Each caller gets its own vectors back, in order.
//
// Thread-safety: every method of both interfaces may be called from many
// threads at once.
#ifndef QUARRY_EMBED_EMBEDDER_H_
#define QUARRY_EMBED_EMBEDDER_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/linear.h"
#include "quarry/status.h"

namespace quarry::embed {

// Queries and documents can be embedded differently (instruction prefixes such
// as E5's "query: " / "passage: ").
enum class TextKind { kQuery, kDocument };

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual size_t dim() const = 0;
  virtual const std::string& model_id() const = 0;
  // Fills `out` with one vector of dim() floats per text, in order.
  virtual Status Embed(std::span<const std::string_view> texts, TextKind kind,
                       std::vector<std::vector<float>>* out) = 0;

  // Token ids as input (OpenAI's `input` as token arrays): each sequence is
  // the model's own vocabulary ids of one text, without special tokens; the
  // model adds its special tokens and truncates as it does for text (no
  // instruction prefix is added). InvalidArgument for an id outside the
  // vocabulary; Unsupported for models that take text only (the default).
  virtual Status EmbedTokens(std::span<const std::vector<int32_t>> ids,
                             std::vector<std::vector<float>>* out);

  // For cache keys. fingerprint(): the model's exact computation (weights,
  // precision, prefixes, truncation); equal fingerprints on two machines mean
  // equal vectors for equal inputs. InputKey(): equal keys give equal vectors
  // under this model (the token ids it would run), so texts that differ only
  // in what the tokenizer normalizes away (case for uncased models,
  // whitespace, Unicode forms) share a key. Defaults: the model id, the text.
  virtual const std::string& fingerprint() const { return model_id(); }
  virtual std::string InputKey(std::string_view text, TextKind kind) const;
};

class Reranker {
 public:
  virtual ~Reranker() = default;
  virtual const std::string& model_id() const = 0;
  // One relevance score (the model's raw logit) per passage, in order.
  virtual Status Score(std::string_view query, std::span<const std::string_view> passages,
                       std::vector<float>* scores) = 0;

  // For cache keys, as Embedder's: the model's computation, and a key of the
  // query such that equal keys give equal scores for equal passages.
  virtual const std::string& fingerprint() const { return model_id(); }
  virtual std::string QueryKey(std::string_view query) const { return std::string(query); }
};

struct LocalModelOptions {
  model::Precision precision = model::Precision::kF32;
  int threads = 0;                  // 0: one per core
  size_t max_tokens = 0;            // truncate inputs to this many tokens; 0: the model's limit
  std::string query_prefix;         // prepended to queries, e.g. "query: "
  std::string document_prefix;      // prepended to documents, e.g. "passage: "
  // Dynamic batching: a batch holds at most this many tokens; the budget
  // adapts toward `target_batch_ms` from the measured cost per token.
  size_t max_batch_tokens = 16384;
  size_t min_batch_tokens = 512;
  double target_batch_ms = 200;
  std::string model_id;             // defaults to the folder's name
};

// A model folder that holds an embedding model (BertModel / XLMRobertaModel).
Result<std::unique_ptr<Embedder>> OpenLocalEmbedder(const std::filesystem::path& dir,
                                                    const LocalModelOptions& options);

// A model folder that holds a cross-encoder (*ForSequenceClassification).
Result<std::unique_ptr<Reranker>> OpenLocalReranker(const std::filesystem::path& dir,
                                                    const LocalModelOptions& options);

}  // namespace quarry::embed

#endif  // QUARRY_EMBED_EMBEDDER_H_
