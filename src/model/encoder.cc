#include "model/encoder.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "model/safetensors.h"

namespace quarry::model {
namespace {

// Resolves a transformers tensor name under the prefix the file uses.
class WeightReader {
 public:
  WeightReader(const SafetensorsFile& file, std::string prefix)
      : file_(file), prefix_(std::move(prefix)) {}
  Status Read(const std::string& name, std::vector<int64_t> shape, std::vector<float>* out) const {
    return file_.ReadFloat(prefix_ + name, shape, out);
  }
  Status ReadRaw(const std::string& name, std::vector<int64_t> shape,
                 std::vector<float>* out) const {  // no prefix (classifier heads)
    return file_.ReadFloat(name, shape, out);
  }

 private:
  const SafetensorsFile& file_;
  std::string prefix_;
};

kernels::Act ToAct(Activation a) {
  switch (a) {
    case Activation::kGeluErf: return kernels::Act::kGeluErf;
    case Activation::kGeluTanh: return kernels::Act::kGeluTanh;
    case Activation::kRelu: return kernels::Act::kRelu;
  }
  return kernels::Act::kNone;
}

// y[n] = act(sum_k w[n, k] x[k] + b[n]) for a few rows (classifier heads).
void SmallDense(const float* x, const std::vector<float>& w, const std::vector<float>& b, int in,
                int out, bool tanh_act, float* y) {
  for (int n = 0; n < out; ++n) {
    double acc = b[n];
    const float* row = w.data() + static_cast<size_t>(n) * in;
    for (int k = 0; k < in; ++k) acc += static_cast<double>(row[k]) * x[k];
    y[n] = tanh_act ? static_cast<float>(std::tanh(acc)) : static_cast<float>(acc);
  }
}

}  // namespace

Encoder::~Encoder() = default;

int Encoder::output_dim() const {
  return config_.task == Task::kClassification ? config_.num_labels : config_.hidden;
}

double Encoder::MacsFor(std::span<const int> lengths) const {
  const double h = config_.hidden, f = config_.intermediate;
  double macs = 0;
  for (int len : lengths) {
    const double l = len;
    macs += config_.layers * (l * (4 * h * h + 2 * h * f) + 2 * l * l * h);
  }
  return macs;
}

Result<std::unique_ptr<Encoder>> Encoder::Load(const std::filesystem::path& dir,
                                               const EncoderOptions& options) {
  std::unique_ptr<Encoder> enc(new Encoder());
  QUARRY_ASSIGN_OR_RETURN(enc->config_, LoadModelConfig(dir));
  enc->options_ = options;
  if (options.precision == Precision::kBF16 && !PrecisionSupported(Precision::kBF16)) {
    return Status::Unsupported("bf16 needs a CPU with AVX512_BF16; use fp32 or int8");
  }
  int threads = options.threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  enc->threads_ = threads;
  QUARRY_RETURN_IF_ERROR(enc->LoadWeights(dir));
  return enc;
}

Status Encoder::LoadWeights(const std::filesystem::path& dir) {
  const std::filesystem::path file_path = dir / "model.safetensors";
  if (!std::filesystem::exists(file_path)) {
    return Status::NotFound(dir.string() + ": no model.safetensors (pytorch_model.bin is not read; "
                            "convert the model to safetensors)");
  }
  QUARRY_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(file_path));
  std::string prefix;
  for (const char* p : {"", "bert.", "roberta.", "model."}) {
    if (file->Find(std::string(p) + "embeddings.word_embeddings.weight") != nullptr) {
      prefix = p;
      break;
    }
    if (std::string(p) == "model.") {
      return Status::InvalidArgument(file_path.string() +
                                     ": no embeddings.word_embeddings.weight tensor (with or "
                                     "without a bert./roberta. prefix)");
    }
  }
  WeightReader r(*file, prefix);
  const ModelConfig& c = config_;
  const int64_t H = c.hidden, I = c.intermediate;
  QUARRY_RETURN_IF_ERROR(r.Read("embeddings.word_embeddings.weight", {c.vocab_size, H}, &word_emb_));
  QUARRY_RETURN_IF_ERROR(
      r.Read("embeddings.position_embeddings.weight", {c.max_position, H}, &pos_emb_));
  QUARRY_RETURN_IF_ERROR(
      r.Read("embeddings.token_type_embeddings.weight", {c.type_vocab, H}, &type_emb_));
  QUARRY_RETURN_IF_ERROR(r.Read("embeddings.LayerNorm.weight", {H}, &emb_ln_g_));
  QUARRY_RETURN_IF_ERROR(r.Read("embeddings.LayerNorm.bias", {H}, &emb_ln_b_));
  weight_bytes_ = 4 * (word_emb_.size() + pos_emb_.size() + type_emb_.size());

  const kernels::Act act = ToAct(c.activation);
  const Precision prec = options_.precision;
  omp_set_num_threads(threads_);
  layers_.resize(c.layers);
  std::vector<float> w, b, wq, bq, wk, bk, wv, bv;
  for (int i = 0; i < c.layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    Layer& L = layers_[i];
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.self.query.weight", {H, H}, &wq));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.self.query.bias", {H}, &bq));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.self.key.weight", {H, H}, &wk));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.self.key.bias", {H}, &bk));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.self.value.weight", {H, H}, &wv));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.self.value.bias", {H}, &bv));
    // One GEMM for q, k and v: rows of W are output features.
    w = wq;
    w.insert(w.end(), wk.begin(), wk.end());
    w.insert(w.end(), wv.begin(), wv.end());
    b = bq;
    b.insert(b.end(), bk.begin(), bk.end());
    b.insert(b.end(), bv.begin(), bv.end());
    QUARRY_ASSIGN_OR_RETURN(L.qkv, Linear::Create(w.data(), b.data(), 3 * H, H, prec,
                                                  kernels::Act::kNone, false));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.output.dense.weight", {H, H}, &w));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.output.dense.bias", {H}, &b));
    QUARRY_ASSIGN_OR_RETURN(L.attn_out, Linear::Create(w.data(), b.data(), H, H, prec,
                                                       kernels::Act::kNone, true));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.output.LayerNorm.weight", {H}, &L.ln1_g));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "attention.output.LayerNorm.bias", {H}, &L.ln1_b));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "intermediate.dense.weight", {I, H}, &w));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "intermediate.dense.bias", {I}, &b));
    QUARRY_ASSIGN_OR_RETURN(L.ffn_in,
                            Linear::Create(w.data(), b.data(), I, H, prec, act, false));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "output.dense.weight", {H, I}, &w));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "output.dense.bias", {H}, &b));
    QUARRY_ASSIGN_OR_RETURN(L.ffn_out, Linear::Create(w.data(), b.data(), H, I, prec,
                                                      kernels::Act::kNone, true));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "output.LayerNorm.weight", {H}, &L.ln2_g));
    QUARRY_RETURN_IF_ERROR(r.Read(p + "output.LayerNorm.bias", {H}, &L.ln2_b));
    weight_bytes_ += L.qkv->weight_bytes() + L.attn_out->weight_bytes() +
                     L.ffn_in->weight_bytes() + L.ffn_out->weight_bytes();
  }
  if (c.task == Task::kClassification) {
    const int64_t nl = c.num_labels;
    if (c.arch == Architecture::kBert) {
      QUARRY_RETURN_IF_ERROR(r.Read("pooler.dense.weight", {H, H}, &head_w1_));
      QUARRY_RETURN_IF_ERROR(r.Read("pooler.dense.bias", {H}, &head_b1_));
      QUARRY_RETURN_IF_ERROR(r.ReadRaw("classifier.weight", {nl, H}, &head_w2_));
      QUARRY_RETURN_IF_ERROR(r.ReadRaw("classifier.bias", {nl}, &head_b2_));
    } else {
      QUARRY_RETURN_IF_ERROR(r.ReadRaw("classifier.dense.weight", {H, H}, &head_w1_));
      QUARRY_RETURN_IF_ERROR(r.ReadRaw("classifier.dense.bias", {H}, &head_b1_));
      QUARRY_RETURN_IF_ERROR(r.ReadRaw("classifier.out_proj.weight", {nl, H}, &head_w2_));
      QUARRY_RETURN_IF_ERROR(r.ReadRaw("classifier.out_proj.bias", {nl}, &head_b2_));
    }
  }
  return Status::OK();
}

const char* Encoder::StageName(int stage) {
  static const char* kNames[kStages] = {"embed",     "qkv",    "attention", "attn_out",
                                        "layernorm", "ffn_in", "ffn_out",   "head"};
  return stage >= 0 && stage < kStages ? kNames[stage] : "?";
}

std::vector<double> Encoder::StageSeconds() const {
  std::lock_guard<std::mutex> lock(const_cast<std::mutex&>(mu_));
  return std::vector<double>(stage_seconds_, stage_seconds_ + kStages);
}

Status Encoder::Validate(const EncoderInput& in) const {
  const ModelConfig& c = config_;
  const size_t max_len = static_cast<size_t>(c.max_position - c.position_offset());
  const size_t len = in.ids.size();
  if (len == 0) return Status::InvalidArgument("empty token sequence");
  if (len > max_len) {
    return Status::InvalidArgument("sequence of " + std::to_string(len) +
                                   " tokens is longer than the model's " +
                                   std::to_string(max_len) + " positions");
  }
  if (!in.type_ids.empty() && in.type_ids.size() != len) {
    return Status::InvalidArgument("type_ids and ids differ in length");
  }
  for (size_t i = 0; i < len; ++i) {
    if (in.ids[i] < 0 || in.ids[i] >= c.vocab_size) {
      return Status::InvalidArgument("token id " + std::to_string(in.ids[i]) +
                                     " is outside the vocabulary");
    }
    if (!in.type_ids.empty() && (in.type_ids[i] < 0 || in.type_ids[i] >= c.type_vocab)) {
      return Status::InvalidArgument("token type id " + std::to_string(in.type_ids[i]) +
                                     " is outside the type vocabulary");
    }
  }
  return Status::OK();
}

Status Encoder::Run(std::span<const EncoderInput> batch, float* out) {
  const ModelConfig& c = config_;
  const int n_seq = static_cast<int>(batch.size());
  if (n_seq == 0) return Status::OK();
  std::vector<int> offsets(n_seq), lengths(n_seq);
  size_t total = 0;
  for (int s = 0; s < n_seq; ++s) {
    QUARRY_RETURN_IF_ERROR(Validate(batch[s]));
    const size_t len = batch[s].ids.size();
    offsets[s] = static_cast<int>(total);
    lengths[s] = static_cast<int>(len);
    total += len;
  }

  std::lock_guard<std::mutex> lock(mu_);
  // A batch of a few tokens (one short query) runs on one thread: its GEMMs
  // are too small to split, and waking the team costs more than it saves
  // (bge-small shape, int8, 2 cores: 10 tokens take 1.9 ms on one thread and
  // 5.0 ms on two; from about 30 tokens two threads break even or win).
  constexpr size_t kSerialBelowTokens = 24;
  omp_set_num_threads(total < kSerialBelowTokens ? 1 : threads_);
  const size_t H = c.hidden, I = c.intermediate;
  x_.resize(total * H);
  qkv_.resize(total * 3 * H);
  ctx_.resize(total * H);
  if (options_.precision != Precision::kInt8) ffn_.resize(total * I);

  auto t_last = std::chrono::steady_clock::now();
  auto lap = [&](int stage) {
    const auto now = std::chrono::steady_clock::now();
    stage_seconds_[stage] += std::chrono::duration<double>(now - t_last).count();
    t_last = now;
  };
  // Embeddings + LayerNorm.
  const int pos0 = c.position_offset();
#pragma omp parallel for schedule(static)
  for (int s = 0; s < n_seq; ++s) {
    const EncoderInput& in = batch[s];
    for (int i = 0; i < lengths[s]; ++i) {
      float* row = x_.data() + (offsets[s] + i) * H;
      const float* we = word_emb_.data() + static_cast<size_t>(in.ids[i]) * H;
      const float* pe = pos_emb_.data() + static_cast<size_t>(pos0 + i) * H;
      const int type = in.type_ids.empty() ? 0 : in.type_ids[i];
      const float* te = type_emb_.data() + static_cast<size_t>(type) * H;
      for (size_t h = 0; h < H; ++h) row[h] = we[h] + pe[h] + te[h];
      kernels::LayerNorm(row, 1, H, emb_ln_g_.data(), emb_ln_b_.data(), c.layer_norm_eps);
    }
  }

  // int8: every GEMM input arrives quantized from the step that produced it
  // (the embedding, layer-norm and GELU row loops), so no layer makes an extra
  // pass over its input.
  const bool int8 = options_.precision == Precision::kInt8;
  QuantizedRows* qx = int8 ? &qx_ : nullptr;
  if (int8) qx_.Quantize(x_.data(), total, H);
  lap(0);
  const bool low_precision_attention = options_.precision != Precision::kF32;
  const bool first_only_last =
      c.task == Task::kClassification || c.pooling == Pooling::kCls;
  for (int l = 0; l < c.layers; ++l) {
    const Layer& L = layers_[l];
    const bool last = l + 1 == c.layers;
    L.qkv->Forward(x_.data(), total, qkv_.data(), &scratch_, nullptr, qx);
    lap(1);
    size_t rows = total;
    if (last && first_only_last) {
      // Only the first token of each sequence matters from here on.
      kernels::Attention(qkv_.data(), 3 * H, offsets.data(), lengths.data(), n_seq, c.hidden,
                         c.heads, /*first_row_only=*/true, ctx_.data(), H, low_precision_attention);
      for (int s = 0; s < n_seq; ++s) {
        std::memmove(x_.data() + s * H, x_.data() + offsets[s] * H, H * sizeof(float));
      }
      rows = n_seq;
    } else {
      kernels::Attention(qkv_.data(), 3 * H, offsets.data(), lengths.data(), n_seq, c.hidden,
                         c.heads, /*first_row_only=*/false, ctx_.data(), H, low_precision_attention);
    }
    lap(2);
    // x = LN1(x + ctx Wo + b)
    RowPost ln1{L.ln1_g.data(), L.ln1_b.data(), c.layer_norm_eps, qx};
    L.attn_out->Forward(ctx_.data(), rows, x_.data(), &scratch_, &ln1);
    lap(3);
    // f = act(x Wi + bi); x = LN2(x + f Wo2 + b2)
    RowPost quant_f{nullptr, nullptr, 0.0f, int8 ? &qf_ : nullptr};
    L.ffn_in->Forward(x_.data(), rows, int8 ? nullptr : ffn_.data(), &scratch_,
                      int8 ? &quant_f : nullptr, qx);
    lap(5);
    RowPost ln2{L.ln2_g.data(), L.ln2_b.data(), c.layer_norm_eps, last ? nullptr : qx};
    L.ffn_out->Forward(ffn_.data(), rows, x_.data(), &scratch_, &ln2, int8 ? &qf_ : nullptr);
    lap(6);
    if (last && first_only_last) {
      // Re-point the sequences at their compacted first rows.
      for (int s = 0; s < n_seq; ++s) offsets[s] = s, lengths[s] = 1;
    }
  }

  if (c.task == Task::kClassification) {
    std::vector<float> tmp(H);
    for (int s = 0; s < n_seq; ++s) {
      const float* cls = x_.data() + offsets[s] * H;
      SmallDense(cls, head_w1_, head_b1_, c.hidden, c.hidden, /*tanh=*/true, tmp.data());
      SmallDense(tmp.data(), head_w2_, head_b2_, c.hidden, c.num_labels, false,
                 out + static_cast<size_t>(s) * c.num_labels);
    }
    lap(7);
    return Status::OK();
  }
  for (int s = 0; s < n_seq; ++s) {
    float* o = out + s * H;
    const float* base = x_.data() + offsets[s] * H;
    switch (c.pooling) {
      case Pooling::kCls:
        std::memcpy(o, base, H * sizeof(float));
        break;
      case Pooling::kLastToken:
        std::memcpy(o, base + (lengths[s] - 1) * H, H * sizeof(float));
        break;
      case Pooling::kMean: {
        std::vector<double> acc(H, 0.0);
        for (int i = 0; i < lengths[s]; ++i) {
          for (size_t h = 0; h < H; ++h) acc[h] += base[i * H + h];
        }
        for (size_t h = 0; h < H; ++h) o[h] = static_cast<float>(acc[h] / lengths[s]);
        break;
      }
    }
    if (c.normalize) {
      double norm = 0;
      for (size_t h = 0; h < H; ++h) norm += static_cast<double>(o[h]) * o[h];
      norm = std::sqrt(norm);
      const float inv = norm > 1e-12 ? static_cast<float>(1.0 / norm) : 0.0f;
      for (size_t h = 0; h < H; ++h) o[h] *= inv;
    }
  }
  lap(7);
  return Status::OK();
}

}  // namespace quarry::model
