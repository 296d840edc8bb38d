#!/usr/bin/python3
"""PyTorch anchor for Quarry's encoder benchmark (same protocol as ort_bench.mjs).

    /usr/bin/python3 bench/embed/torch_bench.py --model DIR --workload W.json --threads 2
        [--repeat 5] [--warmup 1]

fp32, torch.inference_mode(), torch.set_num_threads(threads), one inter-op thread.
Debian's torch does its GEMMs in whatever libblas.so.3 points to (OpenBLAS, pthreads
build), which keeps its own thread pool next to torch's OpenMP one; so, before torch
loads: OPENBLAS_NUM_THREADS = threads (--blas-threads), OMP_WAIT_POLICY=PASSIVE unless
already set (otherwise OpenMP threads spin while OpenBLAS works and the two pools fight
over the cores: 2-6x slower with 2 threads), and OPENBLAS_CORETYPE is removed so that
OpenBLAS picks its kernels for this CPU (--openblas-coretype env keeps an inherited
value, NAME forces one). Every batch is right-padded to its own longest sequence with
config.json's pad_token_id; tensors are built once outside the timed loop. --warmup
untimed passes, then --repeat timed passes over all batches; "seconds" / "ms_per_item"
come from the MEDIAN pass ("best_seconds" is the fastest). Prints one JSON line, which
also says which BLAS torch was built for and which library it actually loaded.
--model defaults to the workload's model_dir.
"""
import argparse
import json
import os
import re
import statistics
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="HF model folder (default: the workload's model_dir)")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--blas-threads", type=int,
                    help="BLAS (OpenBLAS) thread count; default: --threads")
    ap.add_argument("--openblas-coretype", default="auto",
                    help="auto (detect the CPU; default), env (keep OPENBLAS_CORETYPE "
                         "from the environment) or a core name such as Haswell, SkylakeX")
    args = ap.parse_args()
    if args.threads < 1 or args.repeat < 1 or args.warmup < 0:
        ap.error("--threads and --repeat must be >= 1, --warmup >= 0")
    return args


def blas_info(torch):
    """Which BLAS torch was built for and which shared library is really mapped."""
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    info = {"blas_info": m.group(1) if m else None,
            "mkldnn": "MKL-DNN" in cfg or "oneDNN" in cfg}
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if re.search(r"/lib(open)?blas[^/]*\.so|/libmkl_", p):
                libs.add(os.path.realpath(p))
    info["blas_libraries"] = sorted(libs)
    openblas = next((p for p in sorted(libs) if "openblas" in p), None)
    if openblas:
        import ctypes
        try:
            lib = ctypes.CDLL(openblas)
            lib.openblas_get_config.restype = ctypes.c_char_p
            info["openblas_config"] = lib.openblas_get_config().decode()
            info["openblas_threads"] = lib.openblas_get_num_threads()
        except (OSError, AttributeError):
            pass
    return info


def main():
    args = parse_args()
    # OpenBLAS reads its thread count when it loads, i.e. when torch is imported.
    blas_threads = args.blas_threads or args.threads
    os.environ["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    os.environ["MKL_NUM_THREADS"] = str(blas_threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.openblas_coretype == "auto":
        os.environ.pop("OPENBLAS_CORETYPE", None)
    elif args.openblas_coretype != "env":
        os.environ["OPENBLAS_CORETYPE"] = args.openblas_coretype
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_model

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    w = torch_model.load_workload(args.workload)
    model_dir = args.model or torch_model.resolve_model_dir(w, args.workload)
    if not model_dir:
        sys.exit("torch_bench: no --model and no model_dir in the workload")
    model = torch_model.load(model_dir)
    pad_id = int(model.cfg.get("pad_token_id", 0))
    batches = [tuple(torch.from_numpy(a) for a in b)
               for b in torch_model.padded_batches(w, pad_id)]
    n_items = sum(b[0].shape[0] for b in batches)

    def one_pass():
        for ids, mask, tt in batches:
            model(ids, mask, tt)

    times = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            one_pass()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            one_pass()
            times.append(time.perf_counter() - t0)
        cpu_util = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    med = statistics.median(times)
    out = {
        "engine": "pytorch",
        "precision": "fp32",
        "workload": w.get("workload"),
        "n_items": n_items,
        "n_batches": len(batches),
        "threads": args.threads,
        "seconds": med,
        "ms_per_item": med * 1000.0 / n_items,
        "stat": "median",
        "best_seconds": min(times),
        "pass_seconds": times,
        "repeat": args.repeat,
        "warmup": args.warmup,
        # process CPU seconds per wall second over the timed passes: well under
        # `threads` means the run did not get its cores (a busy machine)
        "cpu_util": round(cpu_util, 2),
        "torch_version": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "blas_threads": blas_threads,
    }
    out.update(blas_info(torch))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
