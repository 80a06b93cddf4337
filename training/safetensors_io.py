"""safetensors files without the safetensors package: 8-byte little-endian header length, JSON header, data.

Written as the reference implementation does: tensors in the given order, contiguous, header padded
with spaces to a multiple of 8 bytes.
"""
from pathlib import Path
import json
import struct

import numpy as np
import torch

MAX_HEADER = 100 * 1024 * 1024


def to_bf16_bytes(t: torch.Tensor) -> bytes:
    """bf16 bytes (round to nearest even, as torch's float32 → bfloat16 cast does), little-endian."""
    return t.detach().to(torch.float32).contiguous().to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()


def write_bf16(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    header: dict = {"__metadata__": metadata or {"format": "pt"}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        data = to_bf16_bytes(t)
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def read(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a BF16 / F16 / F32 safetensors file as float32."""
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER or 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} does not fit the file ({len(raw)} bytes)")
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        buf = raw[base + start:base + end]
        if info["dtype"] == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4").astype(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}; expected BF16, F16 or F32")
        out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return out


def read_folder(folder: Path) -> dict[str, torch.Tensor]:
    """All tensors of a model folder: model.safetensors, or the shards listed in model.safetensors.index.json."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        out: dict[str, torch.Tensor] = {}
        for f in files:
            out.update(read(folder / f))
        return out
    return read(folder / "model.safetensors")
