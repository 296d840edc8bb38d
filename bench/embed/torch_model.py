"""PyTorch reference of the BERT / XLM-RoBERTa encoders Quarry runs (benchmark anchor).

Written from the Hugging Face `transformers` model definitions' documented behaviour:
word + position + token-type embeddings -> LayerNorm, then post-LN encoder layers
(self-attention with an additive mask built from attention_mask, residual + LayerNorm,
feed-forward with the configured activation, residual + LayerNorm). On top:

  * sentence-transformers pooling (cls / mean / max / lasttoken / mean_sqrt_len) from
    modules.json + <pooling dir>/config.json, then L2 Normalize if modules.json lists it;
  * BertForSequenceClassification head: pooler dense + tanh on the first token -> classifier;
  * XLMRobertaForSequenceClassification head: first token -> dense -> tanh -> out_proj.

Submodule names mirror the HF tensor names, so the safetensors state loads directly
(after dropping an optional `bert.` / `roberta.` prefix).

The attention is written the way transformers' BERT was when ONNX Runtime's built-in
AttentionFusion was made for it (K reshaped straight to [B, heads, d, L], scores / sqrt(d),
mask = (1 - mask) * -10000 from two Unsqueezes, bias added as MatMul + bias): exported with
opset 12 (export_onnx.py's default), ORT then fuses each layer's self-attention into its
contrib Attention kernel, as in the optimized ONNX files FastEmbed ships. -10000 instead of
transformers' current finfo.min changes nothing: exp() of either underflows to 0 in fp32.

    model = load("path/to/model_dir")          # eval mode, fp32
    out = model(input_ids, attention_mask, token_type_ids)   # int64 [B, L] each
    # -> [B, H] pooled embeddings, or [B] scores (classifier with one label)
"""
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "..", "tools"))
import safetensors_io  # noqa: E402

POOLING_MODES = ("cls", "mean", "max", "lasttoken", "mean_sqrt_len")


def _activation(name):
    name = (name or "gelu").lower()
    if name == "gelu":                       # exact, erf-based
        return lambda x: F.gelu(x)
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    if name in ("silu", "swish"):
        return F.silu
    raise ValueError(f"unsupported hidden_act {name!r}")


class Linear(nn.Linear):
    """nn.Linear; under ONNX export written as MatMul followed by Add(x, bias) (torch
    exports F.linear as Add(bias, x)), the operand order ONNX Runtime's attention and
    layer-norm fusions look for. Same result either way."""

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            return torch.matmul(x, self.weight.t()) + self.bias
        return F.linear(x, self.weight, self.bias)


class Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(cfg.get("type_vocab_size", 2), h)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg.get("layer_norm_eps", 1e-12))
        self.is_xlmr = cfg["model_type"] in ("xlm-roberta", "roberta", "camembert")
        self.pad_id = int(cfg.get("pad_token_id", 1 if self.is_xlmr else 0))

    def forward(self, input_ids, attention_mask, token_type_ids):
        if self.is_xlmr:
            # RoBERTa numbering: real tokens get pad_id + 1 + index, padding gets pad_id
            # (HF derives the same from input_ids != pad_id; right padding makes them equal).
            m = attention_mask.to(torch.int64)
            position_ids = torch.cumsum(m, dim=1) * m + self.pad_id
        else:
            # 0..L-1 in every row. Derived elementwise from input_ids (not arange(L)[None])
            # so that in the ONNX graph the embedding sum keeps input_ids' symbolic
            # [batch, sequence] dims, as XLM-R's mask-derived positions do: ORT then sees
            # the same shapes (and offers the same fusions) for both model types.
            position_ids = torch.cumsum(input_ids * 0 + 1, dim=1) - 1
        x = (self.word_embeddings(input_ids)
             + self.position_embeddings(position_ids)
             + self.token_type_embeddings(token_type_ids))
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.num_heads = cfg["num_attention_heads"]
        self.head_dim = h // self.num_heads
        self.query = Linear(h, h)
        self.key = Linear(h, h)
        self.value = Linear(h, h)

    def _heads(self, t):
        # [B, L, H] -> [B, L, heads, d]; the shape is taken from t itself (as transformers
        # does), which lets ONNX Runtime turn the dynamic Reshape into a constant one
        return t.view(t.shape[:-1] + (self.num_heads, self.head_dim))

    def forward(self, x, additive_mask):
        q = self._heads(self.query(x)).permute(0, 2, 1, 3)   # [B, heads, L, d]
        k = self._heads(self.key(x)).permute(0, 2, 3, 1)     # [B, heads, d, L]
        v = self._heads(self.value(x)).permute(0, 2, 1, 3)   # [B, heads, L, d]
        scores = torch.matmul(q, k) / math.sqrt(self.head_dim)
        probs = torch.softmax(scores + additive_mask, dim=3)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()  # [B, L, heads, d]
        return ctx.view(ctx.shape[:-2] + (self.num_heads * self.head_dim,))


class DenseLayerNorm(nn.Module):
    """dense -> (+ residual) -> LayerNorm; HF's *SelfOutput / *Output blocks."""

    def __init__(self, d_in, d_out, eps):
        super().__init__()
        self.dense = Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self = SelfAttention(cfg)
        h = cfg["hidden_size"]
        self.output = DenseLayerNorm(h, h, cfg.get("layer_norm_eps", 1e-12))

    def forward(self, x, additive_mask):
        return self.output(self.self(x, additive_mask), x)


class Intermediate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = Linear(cfg["hidden_size"], cfg["intermediate_size"])
        self.act = _activation(cfg.get("hidden_act"))

    def forward(self, x):
        return self.act(self.dense(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = Attention(cfg)
        self.intermediate = Intermediate(cfg)
        self.output = DenseLayerNorm(cfg["intermediate_size"], cfg["hidden_size"],
                                     cfg.get("layer_norm_eps", 1e-12))

    def forward(self, x, additive_mask):
        a = self.attention(x, additive_mask)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg) for _ in range(cfg["num_hidden_layers"]))

    def forward(self, x, additive_mask):
        for layer in self.layer:
            x = layer(x, additive_mask)
        return x


class Pooler(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.dense = Linear(h, h)

    def forward(self, first_token):
        return torch.tanh(self.dense(first_token))


class RobertaClassificationHead(nn.Module):
    def __init__(self, h, num_labels):
        super().__init__()
        self.dense = Linear(h, h)
        self.out_proj = Linear(h, num_labels)

    def forward(self, first_token):
        return self.out_proj(torch.tanh(self.dense(first_token)))


class EncoderModel(nn.Module):
    """head: "embed" (pooling + optional normalize), "bert-cls" or "xlmr-cls"."""

    def __init__(self, cfg, head="embed", pooling="cls", normalize=False, num_labels=1):
        super().__init__()
        if head == "embed" and pooling not in POOLING_MODES:
            raise ValueError(f"unknown pooling {pooling!r}")
        self.cfg = cfg
        self.head = head
        self.pooling = pooling
        self.normalize = normalize
        self.num_labels = num_labels
        self.pad_id = int(cfg.get("pad_token_id", 0))
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)
        h = cfg["hidden_size"]
        if head == "bert-cls":
            self.pooler = Pooler(h)
            self.classifier = Linear(h, num_labels)
        elif head == "xlmr-cls":
            self.classifier = RobertaClassificationHead(h, num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids):
        mask = attention_mask.to(torch.float32)
        # [B, 1, 1, L]: 0 where attended, -10000 where padded (exp underflows to exactly 0
        # in fp32 either way, so this equals transformers' finfo.min; written this way so
        # ONNX Runtime recognises the attention subgraph and fuses it)
        additive = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(torch.float32)) * -10000.0
        x = self.embeddings(input_ids, attention_mask, token_type_ids)
        x = self.encoder(x, additive)
        if self.head == "bert-cls":
            logits = self.classifier(self.pooler(x[:, 0]))
        elif self.head == "xlmr-cls":
            logits = self.classifier(x[:, 0])
        else:
            return self._pool(x, mask)
        return logits[:, 0] if self.num_labels == 1 else logits

    def _pool(self, x, mask):
        if self.pooling == "cls":
            out = x[:, 0]
        elif self.pooling in ("mean", "mean_sqrt_len"):
            m = mask.unsqueeze(-1)
            total = (x * m).sum(dim=1)
            count = m.sum(dim=1).clamp(min=1e-9)
            out = total / (count.sqrt() if self.pooling == "mean_sqrt_len" else count)
        elif self.pooling == "max":
            m = mask.unsqueeze(-1)
            out = (x + (1.0 - m) * -1e9).max(dim=1).values
        else:  # lasttoken: right padding, so the last real token is at sum(mask) - 1
            last = mask.sum(dim=1).to(torch.int64) - 1
            idx = last.view(-1, 1, 1).expand(-1, 1, x.shape[-1])
            out = x.gather(1, idx).squeeze(1)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return out


def read_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


def pooling_from_folder(model_dir):
    """(pooling, normalize) from sentence-transformers modules.json; (None, False) if absent."""
    path = os.path.join(model_dir, "modules.json")
    if not os.path.exists(path):
        return None, False
    with open(path) as f:
        modules = json.load(f)
    pooling, normalize = None, False
    for m in modules:
        kind = m.get("type", "")
        if kind.endswith("Pooling"):
            with open(os.path.join(model_dir, m.get("path", ""), "config.json")) as f:
                pc = json.load(f)
            for key, mode in (("pooling_mode_cls_token", "cls"),
                              ("pooling_mode_mean_tokens", "mean"),
                              ("pooling_mode_max_tokens", "max"),
                              ("pooling_mode_lasttoken", "lasttoken"),
                              ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len")):
                if pc.get(key):
                    pooling = mode
                    break
        elif kind.endswith("Normalize"):
            normalize = True
    return pooling, normalize


def load(model_dir, pooling=None, normalize=None):
    """Builds the model from config.json + model.safetensors (eval mode, fp32).

    pooling / normalize override what modules.json says (default without modules.json:
    cls pooling, no normalization)."""
    cfg = read_config(model_dir)
    model_type = cfg.get("model_type", "bert")
    if model_type not in ("bert", "xlm-roberta", "roberta"):
        raise ValueError(f"unsupported model_type {model_type!r}")
    tensors = safetensors_io.read(os.path.join(model_dir, "model.safetensors"))
    state = {}
    for name, arr in tensors.items():
        for prefix in ("bert.", "roberta."):
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        state[name] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    state.pop("embeddings.position_ids", None)
    state.pop("embeddings.token_type_ids", None)
    if "vocab_size" not in cfg:
        cfg["vocab_size"] = state["embeddings.word_embeddings.weight"].shape[0]

    arch = " ".join(cfg.get("architectures") or [])
    has_classifier = any(k.startswith("classifier.") for k in state)
    if "SequenceClassification" in arch or has_classifier:
        if "classifier.out_proj.weight" in state:
            head, num_labels = "xlmr-cls", state["classifier.out_proj.weight"].shape[0]
        else:
            head, num_labels = "bert-cls", state["classifier.weight"].shape[0]
        model = EncoderModel(cfg, head=head, num_labels=num_labels)
    else:
        p, n = pooling_from_folder(model_dir)
        model = EncoderModel(cfg, head="embed",
                             pooling=pooling or p or "cls",
                             normalize=n if normalize is None else normalize)
        # an embedding model does not use the BERT pooler layer
        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{model_dir}: missing tensors {missing}, unexpected {unexpected}")
    model.eval()
    return model


def pad_batch(seqs, types, pad_id):
    """Right-pads one batch to its longest sequence.

    seqs / types: lists of int lists (types may be None -> zeros).
    Returns (input_ids, attention_mask, token_type_ids) int64 numpy arrays [B, L]."""
    b = len(seqs)
    L = max(len(s) for s in seqs)
    ids = np.full((b, L), pad_id, dtype=np.int64)
    mask = np.zeros((b, L), dtype=np.int64)
    tt = np.zeros((b, L), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
        mask[i, :len(s)] = 1
        if types is not None and types[i] is not None:
            tt[i, :len(types[i])] = types[i]
    return ids, mask, tt


def load_workload(path):
    """The workload JSON: {"model_dir", "workload", "batches": [{"input_ids", "token_type_ids"}]}."""
    with open(path) as f:
        return json.load(f)


def resolve_model_dir(workload, workload_path):
    """model_dir as given if it exists (or is absolute), else relative to the workload file."""
    d = workload.get("model_dir")
    if not d:
        return None
    if os.path.isabs(d) or os.path.exists(d):
        return d
    alt = os.path.join(os.path.dirname(os.path.abspath(workload_path)), d)
    return alt if os.path.exists(alt) else d


def padded_batches(workload, pad_id):
    """Each batch right-padded to its own longest sequence (see pad_batch)."""
    out = []
    for b in workload["batches"]:
        out.append(pad_batch(b["input_ids"], b.get("token_type_ids"), pad_id))
    return out
