#include "model/model_config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/file_util.h"

namespace quarry::model {
namespace {

using nlohmann::json;

Result<json> ReadJson(const std::filesystem::path& path, bool want_array = false) {
  QUARRY_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 16u << 20));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(path.string() + ": not valid JSON");
  if (want_array ? !j.is_array() : !j.is_object()) {
    return Status::InvalidArgument(path.string() + (want_array ? ": not a JSON array"
                                                               : ": not a JSON object"));
  }
  return j;
}

bool TrueField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// Reads a positive int field; `required` fields must be present.
Status IntField(const json& j, const std::string& file, const char* key, bool required,
                int min_value, int* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return Status::InvalidArgument(file + ": missing \"" + key + "\"");
    return Status::OK();
  }
  if (!it->is_number_integer()) {
    return Status::InvalidArgument(file + ": \"" + key + "\" must be an integer");
  }
  int64_t v = it->get<int64_t>();
  if (v < min_value || v > (1 << 24)) {
    return Status::InvalidArgument(file + ": \"" + key + "\" = " + std::to_string(v) +
                                   " is out of range");
  }
  *out = static_cast<int>(v);
  return Status::OK();
}

}  // namespace

std::string_view PoolingName(Pooling p) {
  switch (p) {
    case Pooling::kCls: return "cls";
    case Pooling::kMean: return "mean";
    case Pooling::kLastToken: return "lasttoken";
  }
  return "?";
}

Result<ModelConfig> LoadModelConfig(const std::filesystem::path& dir) {
  const std::string file = (dir / "config.json").string();
  if (!std::filesystem::exists(dir / "config.json")) {
    return Status::NotFound(dir.string() + ": no config.json (not a Hugging Face model folder?)");
  }
  QUARRY_ASSIGN_OR_RETURN(json j, ReadJson(dir / "config.json"));
  ModelConfig c;
  if (j.contains("model_type") && j["model_type"].is_string()) {
    c.model_type = j["model_type"].get<std::string>();
  }
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    c.architecture_name = j["architectures"][0].get<std::string>();
  }
  if (c.model_type == "bert") {
    c.arch = Architecture::kBert;
  } else if (c.model_type == "xlm-roberta" || c.model_type == "roberta") {
    c.arch = Architecture::kXlmRoberta;
  } else {
    return Status::Unsupported(file + ": model_type '" + c.model_type +
                               "' is not supported (bert, xlm-roberta)");
  }
  const std::string& a = c.architecture_name;
  if (a.empty() || a == "BertModel" || a == "XLMRobertaModel" || a == "RobertaModel" ||
      a == "BertForMaskedLM" || a == "XLMRobertaForMaskedLM" || a == "BertForPreTraining") {
    c.task = Task::kEmbedding;
  } else if (a == "BertForSequenceClassification" || a == "XLMRobertaForSequenceClassification" ||
             a == "RobertaForSequenceClassification") {
    c.task = Task::kClassification;
  } else {
    return Status::Unsupported(file + ": architecture '" + a + "' is not supported");
  }
  QUARRY_RETURN_IF_ERROR(IntField(j, file, "vocab_size", true, 1, &c.vocab_size));
  QUARRY_RETURN_IF_ERROR(IntField(j, file, "hidden_size", true, 1, &c.hidden));
  QUARRY_RETURN_IF_ERROR(IntField(j, file, "num_hidden_layers", true, 1, &c.layers));
  QUARRY_RETURN_IF_ERROR(IntField(j, file, "num_attention_heads", true, 1, &c.heads));
  QUARRY_RETURN_IF_ERROR(IntField(j, file, "intermediate_size", true, 1, &c.intermediate));
  QUARRY_RETURN_IF_ERROR(IntField(j, file, "max_position_embeddings", true, 1, &c.max_position));
  c.type_vocab = c.arch == Architecture::kBert ? 2 : 1;
  QUARRY_RETURN_IF_ERROR(IntField(j, file, "type_vocab_size", false, 1, &c.type_vocab));
  c.pad_token_id = c.arch == Architecture::kBert ? 0 : 1;
  QUARRY_RETURN_IF_ERROR(IntField(j, file, "pad_token_id", false, 0, &c.pad_token_id));
  if (c.hidden % c.heads != 0) {
    return Status::InvalidArgument(file + ": hidden_size " + std::to_string(c.hidden) +
                                   " is not divisible by num_attention_heads " +
                                   std::to_string(c.heads));
  }
  if (c.pad_token_id >= c.vocab_size) {
    return Status::InvalidArgument(file + ": pad_token_id is outside the vocabulary");
  }
  if (j.contains("layer_norm_eps") && j["layer_norm_eps"].is_number()) {
    c.layer_norm_eps = j["layer_norm_eps"].get<float>();
    if (!(c.layer_norm_eps > 0 && c.layer_norm_eps < 1)) {
      return Status::InvalidArgument(file + ": layer_norm_eps out of range");
    }
  }
  std::string act = "gelu";
  if (j.contains("hidden_act") && j["hidden_act"].is_string()) act = j["hidden_act"];
  if (act == "gelu") {
    c.activation = Activation::kGeluErf;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
    c.activation = Activation::kGeluTanh;
  } else if (act == "relu") {
    c.activation = Activation::kRelu;
  } else {
    return Status::Unsupported(file + ": hidden_act '" + act + "' is not supported");
  }
  if (j.contains("position_embedding_type") && j["position_embedding_type"].is_string() &&
      j["position_embedding_type"] != "absolute") {
    return Status::Unsupported(file + ": position_embedding_type '" +
                               j["position_embedding_type"].get<std::string>() +
                               "' is not supported (absolute)");
  }
  if (c.task == Task::kClassification) {
    if (j.contains("id2label") && j["id2label"].is_object() && !j["id2label"].empty()) {
      c.num_labels = static_cast<int>(j["id2label"].size());
    }
    QUARRY_RETURN_IF_ERROR(IntField(j, file, "num_labels", false, 1, &c.num_labels));
  }
  c.max_seq_length = c.max_position - c.position_offset();
  if (c.max_seq_length < 4) {
    return Status::InvalidArgument(file + ": max_position_embeddings is too small");
  }

  // sentence-transformers pooling and normalization.
  // Without modules.json the model is used as HF's feature extractors do: CLS
  // pooling (BGE's documented usage), no normalization.
  std::filesystem::path pooling_dir;
  if (std::filesystem::exists(dir / "modules.json")) {
    const std::string mfile = (dir / "modules.json").string();
    QUARRY_ASSIGN_OR_RETURN(json modules, ReadJson(dir / "modules.json", /*want_array=*/true));
    for (const json& m : modules) {
      if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) {
        return Status::InvalidArgument(mfile + ": each module needs a \"type\"");
      }
      const std::string type = m["type"];
      std::string path = m.contains("path") && m["path"].is_string() ? m["path"].get<std::string>()
                                                                      : "";
      if (type.ends_with("models.Pooling")) {
        if (path.empty() || path.find("..") != std::string::npos || path[0] == '/') {
          return Status::InvalidArgument(mfile + ": Pooling module has a bad \"path\"");
        }
        pooling_dir = dir / path;
      } else if (type.ends_with("models.Normalize")) {
        c.normalize = true;
      } else if (type.ends_with("models.Transformer")) {
        // the encoder itself
      } else if (type.ends_with("models.Dense")) {
        return Status::Unsupported(mfile + ": a Dense projection module is not supported");
      }
    }
  } else if (std::filesystem::exists(dir / "1_Pooling" / "config.json")) {
    pooling_dir = dir / "1_Pooling";
  }
  if (!pooling_dir.empty()) {
    const std::string pfile = (pooling_dir / "config.json").string();
    QUARRY_ASSIGN_OR_RETURN(json pj, ReadJson(pooling_dir / "config.json"));
    int modes = 0;
    if (TrueField(pj, "pooling_mode_cls_token")) c.pooling = Pooling::kCls, ++modes;
    if (TrueField(pj, "pooling_mode_mean_tokens")) c.pooling = Pooling::kMean, ++modes;
    if (TrueField(pj, "pooling_mode_lasttoken")) c.pooling = Pooling::kLastToken, ++modes;
    if (TrueField(pj, "pooling_mode_max_tokens") || TrueField(pj, "pooling_mode_mean_sqrt_len_tokens") ||
        TrueField(pj, "pooling_mode_weightedmean_tokens")) {
      return Status::Unsupported(pfile + ": only cls, mean and lasttoken pooling are supported");
    }
    if (modes != 1) {
      return Status::InvalidArgument(pfile + ": exactly one pooling mode must be enabled");
    }
    if (pj.contains("word_embedding_dimension") && pj["word_embedding_dimension"].is_number_integer() &&
        pj["word_embedding_dimension"].get<int64_t>() != c.hidden) {
      return Status::InvalidArgument(pfile + ": word_embedding_dimension differs from hidden_size");
    }
  }
  if (std::filesystem::exists(dir / "sentence_bert_config.json")) {
    const std::string sfile = (dir / "sentence_bert_config.json").string();
    QUARRY_ASSIGN_OR_RETURN(json sj, ReadJson(dir / "sentence_bert_config.json"));
    int msl = c.max_seq_length;
    QUARRY_RETURN_IF_ERROR(IntField(sj, sfile, "max_seq_length", false, 4, &msl));
    c.max_seq_length = std::min(msl, c.max_seq_length);
  }
  return c;
}

}  // namespace quarry::model
