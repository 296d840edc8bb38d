#!/usr/bin/python3
"""Reference forward pass of a BERT / XLM-RoBERTa encoder in plain NumPy (float64).

Written from the model definitions for clarity, not speed: it is the ground truth that
Quarry's C++ encoder is tested against.

  /usr/bin/python3 tools/reference_forward.py --model DIR --input IN.json --output OUT.json [--hidden]

IN.json:  {"sequences": [{"input_ids": [...], "token_type_ids": [...]}, ...],
           "batch_padded": false}
          Sequences are already tokenized (special tokens included). Each runs on its own,
          unpadded; with "batch_padded": true they run as one right-padded batch with an
          attention mask (the results must not change).
OUT.json: {"embeddings": [[...], ...]}  embedding models (pooled per 1_Pooling/config.json,
          L2-normalized when modules.json lists Normalize; no modules.json: CLS, raw), or
          {"scores": [...]}  raw logits of *ForSequenceClassification models (a list per
          sequence when num_labels > 1); with --hidden also "hidden": per sequence, the last
          hidden states [len][hidden] (real tokens only).

  /usr/bin/python3 tools/reference_forward.py --self-test   checks this file against itself
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

MASK_NEG = -1e30  # added to the scores of padded keys: exp() of it is exactly 0

_erf = np.frompyfunc(math.erf, 1, 1)


def activation(name):
    if name == "gelu":  # exact: x * Phi(x)
        return lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        c = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x ** 3)))
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    raise ValueError("unsupported hidden_act %r" % name)


class Model:
    def __init__(self, folder):
        self.dir = folder
        with open(os.path.join(folder, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        self.model_type = cfg["model_type"]
        if self.model_type not in ("bert", "xlm-roberta"):
            raise ValueError("unsupported model_type %r" % self.model_type)
        arch = (cfg.get("architectures") or ["BertModel"])[0]
        self.classifier = arch.endswith("ForSequenceClassification")
        self.H = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg["layer_norm_eps"]
        self.pad = cfg.get("pad_token_id", 0 if self.model_type == "bert" else 1)
        self.act = activation(cfg.get("hidden_act", "gelu"))
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        raw = safetensors_io.read(os.path.join(folder, "model.safetensors"))
        self.w = {}
        for name, a in raw.items():
            if a.dtype.kind != "f":
                continue  # e.g. the position_ids buffer of older checkpoints
            for p in ("bert.", "roberta."):
                if name.startswith(p):
                    name = name[len(p):]
            self.w[name] = a.astype(np.float64)
        self.used = set()
        self._read_sentence_transformers()

    def p(self, name):
        self.used.add(name)
        return self.w[name]

    def _read_sentence_transformers(self):
        self.pool_modes = ["cls"]
        self.normalize = False
        path = os.path.join(self.dir, "modules.json")
        if self.classifier or not os.path.exists(path):
            return
        with open(path) as f:
            modules = json.load(f)
        for m in modules:
            t = m["type"].rsplit(".", 1)[-1]
            if t == "Pooling":
                with open(os.path.join(self.dir, m["path"], "config.json")) as f:
                    pc = json.load(f)
                order = [("cls", "pooling_mode_cls_token"), ("max", "pooling_mode_max_tokens"),
                         ("mean", "pooling_mode_mean_tokens"),
                         ("mean_sqrt_len", "pooling_mode_mean_sqrt_len_tokens"),
                         ("weightedmean", "pooling_mode_weightedmean_tokens"),
                         ("lasttoken", "pooling_mode_lasttoken")]
                self.pool_modes = [n for n, k in order if pc.get(k)]
            elif t == "Normalize":
                self.normalize = True
            elif t != "Transformer":
                raise ValueError("unsupported sentence-transformers module %s" % m["type"])

    # ------------------------------------------------------------------ layers
    def layernorm(self, x, prefix):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.p(prefix + ".weight") + self.p(prefix + ".bias")

    def linear(self, x, prefix):
        # torch Linear: weight is [out, in]; y = x W^T + b
        return x @ self.p(prefix + ".weight").T + self.p(prefix + ".bias")

    def positions(self, ids, mask):
        B, T = ids.shape
        if self.model_type == "xlm-roberta":
            # fairseq/HF: real tokens count from pad+1; padding tokens get pad itself
            not_pad = (ids != self.pad).astype(np.int64)
            return np.cumsum(not_pad, axis=1) * not_pad + self.pad
        return np.broadcast_to(np.arange(T), (B, T))

    def encode(self, ids, types, mask):
        """ids, types, mask: int arrays [B, T]. Returns last hidden states [B, T, H]."""
        B, T = ids.shape
        x = (self.p("embeddings.word_embeddings.weight")[ids]
             + self.p("embeddings.position_embeddings.weight")[self.positions(ids, mask)]
             + self.p("embeddings.token_type_embeddings.weight")[types])
        x = self.layernorm(x, "embeddings.LayerNorm")
        nh, dh = self.heads, self.H // self.heads
        key_bias = np.where(mask[:, None, None, :] > 0, 0.0, MASK_NEG)  # [B,1,1,T]
        for i in range(self.L):
            pre = "encoder.layer.%d." % i

            def split(t):
                return t.reshape(B, T, nh, dh).transpose(0, 2, 1, 3)  # [B, nh, T, dh]

            q = split(self.linear(x, pre + "attention.self.query"))
            k = split(self.linear(x, pre + "attention.self.key"))
            v = split(self.linear(x, pre + "attention.self.value"))
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + key_bias
            s = s - s.max(axis=-1, keepdims=True)
            e = np.exp(s)
            a = e / e.sum(axis=-1, keepdims=True)
            ctx = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, self.H)
            x = self.layernorm(self.linear(ctx, pre + "attention.output.dense") + x,
                               pre + "attention.output.LayerNorm")
            h = self.act(self.linear(x, pre + "intermediate.dense"))
            x = self.layernorm(self.linear(h, pre + "output.dense") + x, pre + "output.LayerNorm")
        return x

    def pool(self, h, mask):
        """h [T, H], mask [T] for one sequence -> pooled vector."""
        m = mask.astype(np.float64)[:, None]
        n = m.sum()
        outs = []
        for mode in self.pool_modes:
            if mode == "cls":
                outs.append(h[0])
            elif mode == "max":
                outs.append(np.where(m > 0, h, -1e9).max(axis=0))
            elif mode == "mean":
                outs.append((h * m).sum(axis=0) / max(n, 1e-9))
            elif mode == "mean_sqrt_len":
                outs.append((h * m).sum(axis=0) / math.sqrt(max(n, 1e-9)))
            elif mode == "weightedmean":
                wt = m * np.arange(1, len(h) + 1)[:, None]
                outs.append((h * wt).sum(axis=0) / max(wt.sum(), 1e-9))
            elif mode == "lasttoken":
                outs.append(h[np.nonzero(mask)[0][-1]])
        v = np.concatenate(outs)
        if self.normalize:
            v = v / max(np.linalg.norm(v), 1e-12)
        return v

    def head(self, h0):
        """Classifier on the first token's hidden state -> logits [num_labels]."""
        if self.model_type == "bert":
            pooled = np.tanh(self.linear(h0, "pooler.dense"))
            return self.linear(pooled, "classifier")
        return self.linear(np.tanh(self.linear(h0, "classifier.dense")), "classifier.out_proj")

    # ------------------------------------------------------------------ driver
    def run(self, sequences, batch_padded=False):
        """Returns (outputs, hiddens): per sequence a pooled vector or logits, and its hidden states."""
        seqs = []
        for s in sequences:
            ids = np.asarray(s["input_ids"], dtype=np.int64)
            tt = np.asarray(s.get("token_type_ids") or [0] * len(ids), dtype=np.int64)
            if len(ids) == 0 or len(tt) != len(ids):
                raise ValueError("empty sequence or token_type_ids of the wrong length")
            if ids.min() < 0 or ids.max() >= self.cfg["vocab_size"]:
                raise ValueError("input id out of range")
            if tt.min() < 0 or tt.max() >= self.cfg["type_vocab_size"]:
                raise ValueError("token type id out of range")
            seqs.append((ids, tt))
        if batch_padded:
            T = max(len(ids) for ids, _ in seqs)
            B = len(seqs)
            ids_b = np.full((B, T), self.pad, dtype=np.int64)
            tt_b = np.zeros((B, T), dtype=np.int64)
            mask_b = np.zeros((B, T), dtype=np.int64)
            for b, (ids, tt) in enumerate(seqs):
                ids_b[b, :len(ids)] = ids
                tt_b[b, :len(ids)] = tt
                mask_b[b, :len(ids)] = 1
            hs = self.encode(ids_b, tt_b, mask_b)
            batches = [(hs[b], mask_b[b], len(seqs[b][0])) for b in range(B)]
        else:
            batches = []
            for ids, tt in seqs:
                mask = np.ones((1, len(ids)), dtype=np.int64)
                batches.append((self.encode(ids[None], tt[None], mask)[0], mask[0], len(ids)))
        outs, hiddens = [], []
        for h, mask, n in batches:
            outs.append(self.head(h[0]) if self.classifier else self.pool(h, mask))
            hiddens.append(h[:n])
        return outs, hiddens


def forward_json(model_dir, inp, hidden=False, model=None):
    model = model or Model(model_dir)
    outs, hiddens = model.run(inp["sequences"], bool(inp.get("batch_padded", False)))
    res = {}
    if model.classifier:
        res["scores"] = [float(o[0]) if len(o) == 1 else [float(v) for v in o] for o in outs]
    else:
        res["embeddings"] = [[float(v) for v in o] for o in outs]
    if hidden:
        res["hidden"] = [[[float(v) for v in row] for row in h] for h in hiddens]
    return res


# ---------------------------------------------------------------------- self-test
def self_test():
    import subprocess
    import tempfile
    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp(prefix="quarry_ref_")
    rng = np.random.default_rng(7)
    ok = True

    def make(preset, dtype="f32", extra=()):
        out = os.path.join(tmp, "%s-%s-%s" % (preset, dtype, "-".join(extra)))
        subprocess.run([sys.executable, os.path.join(here, "make_tiny_model.py"), "--out", out,
                        "--preset", preset, "--dtype", dtype, *extra], check=True,
                       stdout=subprocess.DEVNULL)
        return out

    def sequences(cfg, bert):
        V = cfg["vocab_size"]
        seqs = []
        for n in (1, 5, 17, 3, 30):  # sequence of length 1 too (a lone first token)
            ids = list(rng.integers(5, V, size=n))
            if bert:
                ids = [2] + ids + [3]
                tt = [0] * len(ids)
                if n >= 5:  # a pair: second segment gets type 1
                    cut = n // 2 + 1
                    ids.insert(cut, 3)
                    tt = [0] * (cut + 1) + [1] * (len(ids) - cut - 1)
            else:
                ids = [0] + ids + [2]
                tt = [0] * len(ids)
            seqs.append({"input_ids": [int(i) for i in ids], "token_type_ids": tt})
        return seqs

    def report(name, cond, detail):
        nonlocal ok
        ok &= bool(cond)
        print("%-4s %-58s %s" % ("ok" if cond else "FAIL", name, detail))

    def flat(res):
        return np.concatenate([np.ravel(np.asarray(res[k], dtype=np.float64))
                               for k in ("embeddings", "scores") if k in res]
                              + [np.concatenate([np.ravel(h) for h in res.get("hidden", [])])
                                 if "hidden" in res else np.zeros(0)])

    for preset, extra in [("tiny-bert", ()), ("tiny-xlmr", ()), ("tiny-bert-ce", ()),
                          ("tiny-xlmr-ce", ()), ("tiny-bert", ("--pooling", "lasttoken")),
                          ("tiny-bert", ("--pooling", "mean", "--hidden-act", "gelu_new")),
                          ("tiny-xlmr", ("--pooling", "cls", "--normalize", "0",
                                         "--hidden-act", "relu"))]:
        d32 = make(preset, "f32", extra)
        m = Model(d32)
        seqs = sequences(m.cfg, m.model_type == "bert")
        tag = preset + ("" if not extra else " " + " ".join(extra))
        a = forward_json(d32, {"sequences": seqs}, hidden=True, model=m)
        b = forward_json(d32, {"sequences": seqs, "batch_padded": True}, hidden=True, model=m)
        diff = np.abs(flat(a) - flat(b)).max()
        report("%s: padded batch == one by one" % tag, diff <= 1e-10, "max diff %.2e" % diff)
        if "embeddings" in a:
            norms = [np.linalg.norm(v) for v in a["embeddings"]]
            spread = np.std(np.asarray(a["embeddings"]), axis=0).mean()
            report("%s: outputs not degenerate" % tag, spread > 1e-3,
                   "norms %.3f..%.3f, mean std across seqs %.3f" % (min(norms), max(norms), spread))
        else:
            report("%s: outputs not degenerate" % tag, np.std(a["scores"]) > 1e-3,
                   "scores %s" % np.round(a["scores"], 4).tolist())
        if extra:
            continue
        for dt in ("bf16", "f16"):
            dl = make(preset, dt)
            c = forward_json(dl, {"sequences": seqs}, model=Model(dl))
            key = "embeddings" if "embeddings" in c else "scores"
            x, y = np.ravel(a[key]), np.ravel(c[key])
            rel = np.abs(x - y).max() / np.abs(x).max()
            report("%s: f32 vs %s close, not equal" % (tag, dt), 0 < rel < (5e-2 if dt == "bf16" else 5e-3),
                   "max rel diff %.2e" % rel)
        # every tensor matters: perturb each one in turn (the loaded copy, in memory)
        base = flat(forward_json(d32, {"sequences": seqs}, hidden=False, model=m))
        unused, dead = [], []
        for name in sorted(m.w):
            if name not in m.used:
                unused.append(name)
                continue
            saved = m.w[name]
            m.w[name] = saved + 0.01 * rng.standard_normal(saved.shape)
            out = flat(forward_json(d32, {"sequences": seqs}, hidden=False, model=m))
            m.w[name] = saved
            if np.abs(out - base).max() < 1e-9:
                dead.append(name)
        # softmax is shift-invariant: q.b_key is the same for every key, so the key bias
        # cannot change anything (true of the real models too)
        inert = [n for n in dead if n.endswith("attention.self.key.bias")]
        dead = [n for n in dead if n not in inert]
        report("%s: each of %d used tensors changes the output" % (tag, len(m.used) - len(inert)),
               not dead, "dead: %s; inert key biases: %d; not read: %s"
               % (dead or "none", len(inert), unused or "none"))
    print("SELF-TEST", "PASSED" if ok else "FAILED", "(models in %s)" % tmp)
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (config.json, model.safetensors, ...)")
    ap.add_argument("--input", help="IN.json")
    ap.add_argument("--output", help="OUT.json")
    ap.add_argument("--hidden", action="store_true", help="also write the last hidden states")
    ap.add_argument("--self-test", action="store_true", help="generate tiny models and check")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if not (args.model and args.input and args.output):
        ap.error("--model, --input and --output are required")
    with open(args.input) as f:
        inp = json.load(f)
    res = forward_json(args.model, inp, hidden=args.hidden)
    with open(args.output, "w") as f:
        json.dump(res, f)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
