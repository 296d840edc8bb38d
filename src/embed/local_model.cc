#include <algorithm>

#include "embed/batcher.h"
#include "embed/embedder.h"
#include "model/encoder.h"
#include "model/tokenizer.h"

namespace quarry::embed {
namespace {

// What embedder and reranker share: tokenizer, encoder, batcher.
struct LocalModel {
  std::string id;
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
    m->batcher = std::make_unique<DynamicBatcher>(
        m->encoder.get(),
        BatcherOptions{options.max_batch_tokens, options.min_batch_tokens, options.target_batch_ms});
    return m;
  }
};

class LocalEmbedder final : public Embedder {
 public:
  explicit LocalEmbedder(std::unique_ptr<LocalModel> m) : m_(std::move(m)) {}
  size_t dim() const override { return static_cast<size_t>(m_->encoder->output_dim()); }
  const std::string& model_id() const override { return m_->id; }

  Status Embed(std::span<const std::string_view> texts, TextKind kind,
               std::vector<std::vector<float>>* out) override {
    const std::string& prefix =
        kind == TextKind::kQuery ? m_->options.query_prefix : m_->options.document_prefix;
    std::vector<model::Encoding> enc(texts.size());
    std::vector<model::EncoderInput> inputs(texts.size());
    std::string buf;
    for (size_t i = 0; i < texts.size(); ++i) {
      if (prefix.empty()) {
        enc[i] = m_->tokenizer->Encode(texts[i], m_->max_tokens);
      } else {
        buf.assign(prefix);
        buf.append(texts[i]);
        enc[i] = m_->tokenizer->Encode(buf, m_->max_tokens);
      }
      inputs[i] = {enc[i].ids, enc[i].type_ids};
    }
    const size_t d = dim();
    std::vector<float> flat(texts.size() * d);
    QUARRY_RETURN_IF_ERROR(m_->batcher->Run(inputs, flat.data()));
    out->resize(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      (*out)[i].assign(flat.begin() + i * d, flat.begin() + (i + 1) * d);
    }
    return Status::OK();
  }

 private:
  std::unique_ptr<LocalModel> m_;
};

class LocalReranker final : public Reranker {
 public:
  explicit LocalReranker(std::unique_ptr<LocalModel> m) : m_(std::move(m)) {}
  const std::string& model_id() const override { return m_->id; }

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
