// The BERT / XLM-RoBERTa encoder forward pass, with pooling and the
// sequence-classification heads of cross-encoders.
//
// Sequences run packed back to back, with no padding at all: the dense layers
// are GEMMs over the total token count of the batch, and attention runs per
// sequence (kernels::Attention). For CLS pooling and classifier heads the last
// layer computes only the first token of each sequence after attention.
//
// Weights are read from `model.safetensors` (f32, f16 or bf16) under the
// names transformers uses, with an optional `bert.` / `roberta.` prefix.
//
// Thread-safety: Run may be called from many threads; calls are serialized
// (one forward pass at a time uses all the encoder's threads).
#ifndef QUARRY_MODEL_ENCODER_H_
#define QUARRY_MODEL_ENCODER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "model/linear.h"
#include "model/model_config.h"
#include "quarry/status.h"

namespace quarry::model {

struct EncoderOptions {
  Precision precision = Precision::kF32;
  int threads = 0;  // 0: one per core
};

struct EncoderInput {
  std::span<const int32_t> ids;
  std::span<const int32_t> type_ids;  // empty: all zero
};

class Encoder {
 public:
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  static Result<std::unique_ptr<Encoder>> Load(const std::filesystem::path& dir,
                                               const EncoderOptions& options);

  const ModelConfig& config() const { return config_; }
  Precision precision() const { return options_.precision; }
  int threads() const { return threads_; }
  // Floats per sequence in Run's output: hidden size for embedding models,
  // num_labels for classifiers.
  int output_dim() const;
  size_t weight_bytes() const { return weight_bytes_; }
  // Multiply-adds of one forward pass over these lengths (for FLOP/s reports).
  double MacsFor(std::span<const int> lengths) const;

  // OK when Run would accept `input`; otherwise the InvalidArgument Run gives.
  Status Validate(const EncoderInput& input) const;

  // Wall time spent per stage since load, summed over Run calls (for the
  // benchmark's breakdown). Stages: embed, qkv, attention, attn_out,
  // layernorm (fp32/bf16 fold it into attn_out / ffn_out now; kept for the
  // breakdown's shape), ffn_in, ffn_out, head.
  static constexpr int kStages = 8;
  static const char* StageName(int stage);
  std::vector<double> StageSeconds() const;

  // Runs the batch; writes output_dim() floats per sequence to `out`, in order.
  // Fails with InvalidArgument on an empty sequence, one longer than the
  // model's positions, or an id outside the vocabulary.
  Status Run(std::span<const EncoderInput> batch, float* out);

 private:
  struct Layer {
    std::unique_ptr<Linear> qkv, attn_out, ffn_in, ffn_out;
    std::vector<float> ln1_g, ln1_b, ln2_g, ln2_b;
  };
  Encoder() = default;
  Status LoadWeights(const std::filesystem::path& dir);

  ModelConfig config_;
  EncoderOptions options_;
  int threads_ = 1;
  size_t weight_bytes_ = 0;
  std::vector<float> word_emb_, pos_emb_, type_emb_, emb_ln_g_, emb_ln_b_;
  std::vector<Layer> layers_;
  // Classifier head: BERT pooler + classifier, or XLM-R dense + out_proj.
  std::vector<float> head_w1_, head_b1_, head_w2_, head_b2_;

  std::mutex mu_;  // guards the buffers below and serializes Run
  LinearScratch scratch_;
  std::vector<float> x_, qkv_, ctx_, ffn_;
  QuantizedRows qx_, qf_;  // int8: quantized hidden states and FFN activations
  double stage_seconds_[kStages] = {};
};

}  // namespace quarry::model

#endif  // QUARRY_MODEL_ENCODER_H_
