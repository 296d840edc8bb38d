#!/usr/bin/python3
"""Exports bench/embed/torch_model.py's module to ONNX and checks ONNX Runtime against torch.

    /usr/bin/python3 bench/embed/export_onnx.py --model DIR --out FILE.onnx
        [--opset 12] [--check-batches 3] [--tol 1e-4] [--no-check]

Inputs input_ids, attention_mask, token_type_ids (int64, dynamic axes batch and
sequence); output "embeddings" [batch, hidden] or "scores" [batch].
Opset 12 is the default on purpose: ONNX Runtime's online AttentionFusion only matches
the mask's Unsqueeze nodes in their opset <= 12 form, so with opset 12 every layer's
self-attention runs as ORT's fused Attention kernel, as in the optimized ONNX files
FastEmbed downloads (on this 2-core EPYC it runs at the same speed as the unfused opset-14
graph). LayerNorm and bias+GELU are fused with either opset. --opset 14 also works.
The check pads a few random batches (mixed lengths, so padding is exercised), runs them
through torch and through onnxruntime-node (ort_bench.mjs --dump: the same padding code
the ORT anchor times) and fails unless max |ort - torch| <= --tol.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_model  # noqa: E402


def export(model, out, opset):
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [5, 6, 7, 0, 0, 0]], dtype=torch.int64)
    mask = (torch.arange(6)[None, :] < torch.tensor([[6], [3]])).to(torch.int64)
    tt = torch.zeros_like(ids)
    out_name = "embeddings" if model.head == "embed" else "scores"
    axes = {"input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "token_type_ids": {0: "batch", 1: "sequence"},
            out_name: {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask, tt), out,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=[out_name], dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True)
    return out_name


def random_batches(cfg, n_batches, rng):
    """Mixed-length batches (batch 1 included) with ids clear of the special tokens."""
    vocab = cfg["vocab_size"]
    max_len = min(128, cfg["max_position_embeddings"] - 2 - int(cfg.get("pad_token_id", 0)))
    two_types = cfg.get("type_vocab_size", 2) > 1
    sizes = [1, 4, 7, 3, 8, 2][:n_batches]
    batches = []
    for b in sizes:
        lens = rng.integers(2, max_len + 1, size=b).tolist()
        ids = [rng.integers(5, vocab, size=n).tolist() for n in lens]
        if two_types:  # a query/passage pair: second segment gets type 1
            types = [[0] * (n // 2) + [1] * (n - n // 2) for n in lens]
        else:
            types = [[0] * n for n in lens]
        batches.append({"input_ids": ids, "token_type_ids": types})
    return batches


def check(model, cfg, model_dir, onnx_path, n_batches, tol):
    rng = np.random.default_rng(1234)
    batches = random_batches(cfg, n_batches, rng)
    workload = {"model_dir": os.path.abspath(model_dir), "workload": "check", "batches": batches}
    with tempfile.TemporaryDirectory() as tmp:
        wpath = os.path.join(tmp, "check.json")
        dpath = os.path.join(tmp, "ort_out.json")
        with open(wpath, "w") as f:
            json.dump(workload, f)
        cmd = ["node", os.path.join(HERE, "ort_bench.mjs"), "--onnx", onnx_path,
               "--workload", wpath, "--threads", "1", "--dump", dpath]
        subprocess.run(cmd, check=True)
        with open(dpath) as f:
            dumped = json.load(f)
    ort_out = dumped["outputs"]
    kernels = dumped.get("kernels") or {}
    print("ORT kernels per run (after its graph optimizations): " +
          ", ".join(f"{k} x{v:g}" for k, v in sorted(kernels.items(), key=lambda kv: -kv[1])))
    worst = 0.0
    pad_id = int(cfg.get("pad_token_id", 0))
    for i, (b, o) in enumerate(zip(batches, ort_out)):
        ids, mask, tt = torch_model.pad_batch(b["input_ids"], b["token_type_ids"], pad_id)
        with torch.inference_mode():
            ref = model(torch.from_numpy(ids), torch.from_numpy(mask),
                        torch.from_numpy(tt)).numpy()
        got = np.asarray(o["data"], dtype=np.float32).reshape(o["dims"])
        if got.shape != ref.shape:
            print(f"check batch {i}: shape ort {got.shape} != torch {ref.shape}")
            return False
        diff = float(np.abs(got - ref).max())
        worst = max(worst, diff)
        print(f"check batch {i}: [{ids.shape[0]} x {ids.shape[1]}] "
              f"lengths {sorted(int(x) for x in mask.sum(1))} max|ort-torch| = {diff:.3g}")
    ok = worst <= tol
    print(f"check: {'PASS' if ok else 'FAIL'} max|ort-torch| = {worst:.3g} (tol {tol:g}) "
          f"over {len(batches)} padded batches")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF model folder")
    ap.add_argument("--out", required=True, help="output .onnx file")
    ap.add_argument("--opset", type=int, default=12)
    ap.add_argument("--check-batches", type=int, default=3)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()

    # torch 1.13 warns about prim::Constant shape inference on dynamic-shape exports;
    # harmless here (the ORT check below is what validates the graph)
    warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
    torch.manual_seed(0)
    model = torch_model.load(args.model)
    cfg = model.cfg
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    out_name = export(model, args.out, args.opset)
    what = (f"pooling={model.pooling} normalize={model.normalize}" if model.head == "embed"
            else f"head={model.head} labels={model.num_labels}")
    print(f"exported {args.model} ({cfg['model_type']}, {cfg['num_hidden_layers']} layers, "
          f"hidden {cfg['hidden_size']}, {what}) -> {args.out} "
          f"(opset {args.opset}, output {out_name}, "
          f"{os.path.getsize(args.out) / 1e6:.1f} MB, torch {torch.__version__})")
    if args.no_check:
        return 0
    return 0 if check(model, cfg, args.model, args.out, args.check_batches, args.tol) else 1


if __name__ == "__main__":
    sys.exit(main())
