// What a Hugging Face model folder says about the encoder in it: architecture,
// sizes, activation, pooling and normalization.
//
// Read from `config.json`, and for sentence-transformers folders from
// `modules.json`, `1_Pooling/config.json` (or the folder modules.json names)
// and `sentence_bert_config.json`. Every field is validated (positive sizes,
// hidden divisible by heads, known activation and architecture); errors name
// the file and the field.
#ifndef QUARRY_MODEL_MODEL_CONFIG_H_
#define QUARRY_MODEL_MODEL_CONFIG_H_

#include <cstddef>
#include <filesystem>
#include <string>

#include "quarry/status.h"

namespace quarry::model {

enum class Architecture { kBert, kXlmRoberta };
enum class Task { kEmbedding, kClassification };
enum class Activation { kGeluErf, kGeluTanh, kRelu };
enum class Pooling { kCls, kMean, kLastToken };

struct ModelConfig {
  Architecture arch = Architecture::kBert;
  Task task = Task::kEmbedding;
  std::string model_type;       // "bert", "xlm-roberta"
  std::string architecture_name;  // first of config.json "architectures", if any
  int vocab_size = 0;
  int hidden = 0;
  int layers = 0;
  int heads = 0;
  int intermediate = 0;
  int max_position = 0;
  int type_vocab = 0;
  int pad_token_id = 0;
  int num_labels = 1;
  float layer_norm_eps = 1e-12f;
  Activation activation = Activation::kGeluErf;
  // Embedding models: how token states become one vector.
  Pooling pooling = Pooling::kCls;
  bool normalize = false;
  // Longest input in tokens, special tokens included (sentence-transformers'
  // max_seq_length when given, else the position table's usable length).
  int max_seq_length = 512;

  int head_dim() const { return hidden / heads; }
  // First usable position index: XLM-R counts positions from pad_token_id + 1.
  int position_offset() const { return arch == Architecture::kXlmRoberta ? pad_token_id + 1 : 0; }
};

Result<ModelConfig> LoadModelConfig(const std::filesystem::path& dir);

std::string_view PoolingName(Pooling p);

}  // namespace quarry::model

#endif  // QUARRY_MODEL_MODEL_CONFIG_H_
