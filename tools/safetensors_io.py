"""Read and write .safetensors files with NumPy only (no safetensors package).

Format: 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype": "F32"|"F16"|"BF16"|..., "shape": [...], "data_offsets": [begin, end]},
 "__metadata__": {...}}, then the tensor bytes (offsets relative to the data start).
BF16 has no NumPy dtype: it is read and written as the top 16 bits of float32.
"""
import json
import struct

import numpy as np

_NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
       "I8": np.int8, "U8": np.uint8}


def _to_bf16_bits(a):
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    # round to nearest even, as torch does
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def write(path, tensors, dtype="F32", metadata=None):
    """tensors: dict name -> float ndarray; dtype: F32, F16 or BF16 for all float tensors."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        if a.dtype.kind == "f":
            if dtype == "BF16":
                raw = _to_bf16_bits(a).tobytes()
                dt = "BF16"
            elif dtype == "F16":
                raw = a.astype(np.float16).tobytes()
                dt = "F16"
            else:
                raw = a.astype(np.float32).tobytes()
                dt = "F32"
        else:
            dt = {np.dtype(np.int64): "I64", np.dtype(np.int32): "I32"}[a.dtype]
            raw = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # align data to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)


def read(path):
    """Returns dict name -> float32 (or integer) ndarray."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        dt = info["dtype"]
        if dt == "BF16":
            a = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype=_NP[dt])
            if a.dtype.kind == "f":
                a = a.astype(np.float32)
        out[name] = a.reshape(info["shape"])
    return out
