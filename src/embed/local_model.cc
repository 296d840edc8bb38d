#include <algorithm>
#include <fstream>
#include <mutex>
#include <random>

#include "common/hash.h"
#include "embed/batcher.h"
#include "embed/embedder.h"
#include "model/encoder.h"
#include "model/tokenizer.h"

namespace quarry::embed {
namespace {

// Hash of every file that decides what the model computes, read in blocks.
// Content, not names or times: two nodes with copies of one model folder get
// the same fingerprint and share cache entries.
Result<std::string> HashModelFiles(const std::filesystem::path& dir) {
  std::string digest;
  std::vector<char> block(4 << 20);
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt",
                           "tokenizer_config.json", "sentencepiece.bpe.model", "modules.json",
                           "1_Pooling/config.json", "sentence_bert_config.json"}) {
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) continue;
    digest += name;
    while (in) {
      in.read(block.data(), static_cast<std::streamsize>(block.size()));
      const std::streamsize got = in.gcount();
      if (got <= 0) break;
      digest += HashHex128(std::string_view(block.data(), static_cast<size_t>(got)));
    }
    if (in.bad()) return Status::IOError((dir / name).string() + ": read failed");
  }
  return HashHex128(digest);
}

std::string IdsKey(const std::vector<int32_t>& ids) {
  return HashHex128(std::string_view(reinterpret_cast<const char*>(ids.data()),
                                     ids.size() * sizeof(int32_t)));
}

// What embedder and reranker share: tokenizer, encoder, batcher.
struct LocalModel {
  std::string id;
  std::filesystem::path dir;
  LocalModelOptions options;
  std::unique_ptr<model::Tokenizer> tokenizer;
  std::unique_ptr<model::Encoder> encoder;
  std::unique_ptr<DynamicBatcher> batcher;
  size_t max_tokens = 0;

  static Result<std::unique_ptr<LocalModel>> Open(const std::filesystem::path& dir,
                                                  const LocalModelOptions& options,
                                                  model::Task want) {
    auto m = std::make_unique<LocalModel>();
    m->options = options;
    m->id = options.model_id.empty() ? dir.filename().string() : options.model_id;
    if (m->id.empty()) m->id = dir.parent_path().filename().string();
    QUARRY_ASSIGN_OR_RETURN(m->encoder,
                            model::Encoder::Load(dir, {options.precision, options.threads}));
    const model::ModelConfig& c = m->encoder->config();
    if (c.task != want) {
      return Status::InvalidArgument(
          dir.string() + ": '" + c.architecture_name + "' is " +
          (c.task == model::Task::kEmbedding ? "an embedding model, not a cross-encoder"
                                             : "a cross-encoder, not an embedding model"));
    }
    QUARRY_ASSIGN_OR_RETURN(m->tokenizer, model::Tokenizer::Load(dir));
    m->max_tokens = static_cast<size_t>(c.max_seq_length);
    if (options.max_tokens > 0) m->max_tokens = std::min(m->max_tokens, options.max_tokens);
    m->max_tokens = std::max<size_t>(m->max_tokens, 4);
    m->dir = dir;
    m->batcher = std::make_unique<DynamicBatcher>(
        m->encoder.get(),
        BatcherOptions{options.max_batch_tokens, options.min_batch_tokens, options.target_batch_ms});
    return m;
  }

  // Files + precision + prefixes + truncation. Computed on first use: only
  // caches need it, and it reads every model file once more.
  const std::string& Fingerprint() const {
    std::call_once(fingerprint_once_, [this] {
      auto files = HashModelFiles(dir);
      // Unreadable now: a key of this process alone (never shared, never wrong).
      const std::string content =
          files.ok() ? *files : "unhashed:" + std::to_string(std::random_device{}());
      fingerprint_ = id + "@" +
                     HashHex128(content + "|" + std::to_string(static_cast<int>(options.precision)) +
                                "|" + std::to_string(max_tokens) + "|" + options.query_prefix +
                                "|" + options.document_prefix)
                         .substr(0, 16);
    });
    return fingerprint_;
  }

 private:
  mutable std::once_flag fingerprint_once_;
  mutable std::string fingerprint_;
};

class LocalEmbedder final : public Embedder {
 public:
  explicit LocalEmbedder(std::unique_ptr<LocalModel> m) : m_(std::move(m)) {}
  size_t dim() const override { return static_cast<size_t>(m_->encoder->output_dim()); }
  const std::string& model_id() const override { return m_->id; }
  const std::string& fingerprint() const override { return m_->Fingerprint(); }
  std::string InputKey(std::string_view text, TextKind kind) const override {
    return IdsKey(Encode(text, kind).ids);
  }

  Status EmbedTokens(std::span<const std::vector<int32_t>> ids,
                     std::vector<std::vector<float>>* out) override {
    const size_t vocab = m_->tokenizer->vocab_size();
    std::vector<model::Encoding> enc(ids.size());
    std::vector<model::EncoderInput> inputs(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      for (size_t j = 0; j < ids[i].size(); ++j) {
        if (ids[i][j] < 0 || static_cast<size_t>(ids[i][j]) >= vocab) {
          return Status::InvalidArgument("input[" + std::to_string(i) + "][" + std::to_string(j) +
                                         "]: token id " + std::to_string(ids[i][j]) +
                                         " is outside the vocabulary of model '" + m_->id +
                                         "' (" + std::to_string(vocab) + " tokens)");
        }
      }
      enc[i] = m_->tokenizer->EncodeIds(ids[i], m_->max_tokens);
      inputs[i] = {enc[i].ids, enc[i].type_ids};
    }
    return Run(inputs, out);
  }

  Status Embed(std::span<const std::string_view> texts, TextKind kind,
               std::vector<std::vector<float>>* out) override {
    std::vector<model::Encoding> enc(texts.size());
    std::vector<model::EncoderInput> inputs(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      enc[i] = Encode(texts[i], kind);
      inputs[i] = {enc[i].ids, enc[i].type_ids};
    }
    return Run(inputs, out);
  }

 private:
  Status Run(const std::vector<model::EncoderInput>& inputs, std::vector<std::vector<float>>* out) {
    const size_t d = dim();
    std::vector<float> flat(inputs.size() * d);
    QUARRY_RETURN_IF_ERROR(m_->batcher->Run(inputs, flat.data()));
    out->resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      (*out)[i].assign(flat.begin() + i * d, flat.begin() + (i + 1) * d);
    }
    return Status::OK();
  }

  model::Encoding Encode(std::string_view text, TextKind kind) const {
    const std::string& prefix =
        kind == TextKind::kQuery ? m_->options.query_prefix : m_->options.document_prefix;
    if (prefix.empty()) return m_->tokenizer->Encode(text, m_->max_tokens);
    std::string buf = prefix;
    buf.append(text);
    return m_->tokenizer->Encode(buf, m_->max_tokens);
  }

  std::unique_ptr<LocalModel> m_;
};

class LocalReranker final : public Reranker {
 public:
  explicit LocalReranker(std::unique_ptr<LocalModel> m) : m_(std::move(m)) {}
  const std::string& model_id() const override { return m_->id; }
  const std::string& fingerprint() const override { return m_->Fingerprint(); }
  // Pair truncation depends on the query only through its tokens.
  std::string QueryKey(std::string_view query) const override {
    return IdsKey(m_->tokenizer->Tokenize(query));
  }

  Status Score(std::string_view query, std::span<const std::string_view> passages,
               std::vector<float>* scores) override {
    std::vector<model::Encoding> enc(passages.size());
    std::vector<model::EncoderInput> inputs(passages.size());
    for (size_t i = 0; i < passages.size(); ++i) {
      enc[i] = m_->tokenizer->EncodePair(query, passages[i], m_->max_tokens,
                                         model::Truncation::kOnlySecond);
      if (enc[i].ids.size() > m_->max_tokens) {  // the query alone is too long
        enc[i] = m_->tokenizer->EncodePair(query, passages[i], m_->max_tokens,
                                           model::Truncation::kLongestFirst);
      }
      inputs[i] = {enc[i].ids, enc[i].type_ids};
    }
    const size_t labels = static_cast<size_t>(m_->encoder->output_dim());
    std::vector<float> flat(passages.size() * labels);
    QUARRY_RETURN_IF_ERROR(m_->batcher->Run(inputs, flat.data()));
    scores->resize(passages.size());
    // Several labels: the last one is "relevant" by convention (2-way heads).
    for (size_t i = 0; i < passages.size(); ++i) (*scores)[i] = flat[i * labels + labels - 1];
    return Status::OK();
  }

 private:
  std::unique_ptr<LocalModel> m_;
};

}  // namespace

Result<std::unique_ptr<Embedder>> OpenLocalEmbedder(const std::filesystem::path& dir,
                                                    const LocalModelOptions& options) {
  QUARRY_ASSIGN_OR_RETURN(auto m, LocalModel::Open(dir, options, model::Task::kEmbedding));
  return std::unique_ptr<Embedder>(new LocalEmbedder(std::move(m)));
}

Result<std::unique_ptr<Reranker>> OpenLocalReranker(const std::filesystem::path& dir,
                                                    const LocalModelOptions& options) {
  QUARRY_ASSIGN_OR_RETURN(auto m, LocalModel::Open(dir, options, model::Task::kClassification));
  return std::unique_ptr<Reranker>(new LocalReranker(std::move(m)));
}

}  // namespace quarry::embed
