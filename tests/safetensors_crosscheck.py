"""safetensors_crosscheck.py - brainstage's safetensors reader/writers against an
independent pure-Python implementation (json + struct + numpy).

1. brainstage writes (collecting and streaming writer); Python parses the file
   strictly and checks every value, the 8-byte padding and packed offsets.
2. Python writes files (unsorted keys, unpadded header, trailing header
   spaces, several dtypes); brainstage dumps them; values must match.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "BF16": None, "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
TOOL = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_safetensors_tool")


def read_safetensors(path):
    """Minimal strict parser: returns (tensors dict, metadata dict, header length)."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert 8 + n <= len(raw), "header past end"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    cursor = 0
    for b, e, k in spans:
        assert b == cursor, f"{k}: not packed ({b} != {cursor})"
        cursor = e
    assert cursor == len(data), "data section not fully covered"
    out = {}
    for k, v in header.items():
        b, e = v["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
        out[k] = (v["dtype"], arr)
    return out, meta, n


def write_safetensors(path, tensors, meta=None, pad=0, reverse=False):
    """Independent writer: keys in the order given (optionally reversed data
    order), `pad` trailing spaces in the header, no alignment."""
    header, blobs, off = {}, [], 0
    items = list(tensors.items())
    order = list(reversed(items)) if reverse else items
    for name, (dtype, arr) in order:
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        header["__metadata__"] = meta
    text = json.dumps(header, ensure_ascii=False).encode("utf-8") + b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def dump(path):
    res = subprocess.run([TOOL, "dump", path], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"tool dump failed: {res.stderr}")
    tensors, meta = {}, {}
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "meta":
            meta[parts[1]] = parts[2]
        else:
            _, name, dtype, shape, values = parts
            shape = [int(s) for s in shape.split(",")] if shape else []
            vals = np.array([float(x) for x in values.split(",")] if values else [], dtype=np.float64)
            tensors[name] = (dtype, vals.reshape(shape))
    return tensors, meta


failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL", msg)


def expected_c_side():
    i = np.arange(12)
    return {
        "layer.weight": ("F32", (i.astype(np.float32) * np.float32(0.5) - np.float32(1.25)).reshape(3, 4)),
        "b": ("F64", 1.0 / (np.arange(5) + 3) - 0.1 * np.arange(5)),
        "count": ("I64", (np.arange(4, dtype=np.int64) * 1000000007 - 3).reshape(2, 2)),
        "half": ("F16", np.array([1, -1, 65504], dtype=np.float16)),
        "empty": ("F32", np.zeros((0, 3), dtype=np.float32)),
    }


with tempfile.TemporaryDirectory() as tmp:
    # 1. brainstage writes, Python reads.
    for mode in ("write", "stream"):
        path = os.path.join(tmp, f"{mode}.safetensors")
        subprocess.run([TOOL, mode, path], check=True)
        tensors, meta, hlen = read_safetensors(path)
        if mode == "write":
            check((8 + hlen) % 8 == 0, f"{mode}: header not padded to 8 bytes")
        for name, (dtype, ref) in expected_c_side().items():
            check(name in tensors, f"{mode}: missing {name}")
            if name not in tensors:
                continue
            got_dtype, got = tensors[name]
            check(got_dtype == dtype, f"{mode}: {name} dtype {got_dtype} != {dtype}")
            check(got.shape == ref.shape, f"{mode}: {name} shape {got.shape} != {ref.shape}")
            check(np.array_equal(got, ref), f"{mode}: {name} values differ")
        check(meta == {"format": "pt", "text": 'caf\u00e9 "q"\\'}, f"{mode}: metadata {meta}")
        # And brainstage reads its own output back identically.
        t2, m2 = dump(path)
        check(np.allclose(t2["b"][1], expected_c_side()["b"][1].astype(np.float32)), f"{mode}: self read")

    # 2. Python writes, brainstage reads.
    rng = np.random.default_rng(7)
    src = {
        "z.last": ("F32", rng.standard_normal((4, 5)).astype(np.float32)),
        "a.first": ("F64", rng.standard_normal(7)),
        "ints": ("I32", rng.integers(-1000, 1000, (2, 3)).astype(np.int32)),
        "small": ("I16", np.array([-32768, 0, 32767], dtype=np.int16)),
        "bytes": ("U8", np.arange(0, 256, 17, dtype=np.uint8)),
        "signed": ("I8", np.array([-128, 5, 127], dtype=np.int8)),
        "flags": ("BOOL", np.array([True, False, True])),
        "h": ("F16", rng.standard_normal(6).astype(np.float16)),
        "big": ("I64", np.array([2**40, -(2**41)], dtype=np.int64)),
        "scalar": ("F32", np.array(3.5, dtype=np.float32)),
    }
    for pad, reverse in ((0, False), (5, True), (123, False)):
        path = os.path.join(tmp, f"py_{pad}.safetensors")
        write_safetensors(path, src, meta={"who": "python", "e": "\u00e9"}, pad=pad, reverse=reverse)
        got, meta = dump(path)
        check(meta == {"who": "python", "e": "\u00e9"}, f"py pad={pad}: metadata {meta}")
        for name, (dtype, arr) in src.items():
            gd, gv = got.get(name, (None, None))
            check(gd == dtype, f"py pad={pad}: {name} dtype {gd}")
            if gv is None:
                continue
            # %.9g text round-trips float32 exactly when parsed back as float32.
            ref = arr.astype(np.float32)
            check(gv.shape == arr.shape, f"py pad={pad}: {name} shape {gv.shape} != {arr.shape}")
            check(np.array_equal(gv.astype(np.float32), ref), f"py pad={pad}: {name} values differ")

    # 3. A Python-written file that breaks packing must be refused by brainstage.
    path = os.path.join(tmp, "gap.safetensors")
    header = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
              "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
    text = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + bytes(12))
    res = subprocess.run([TOOL, "dump", path], capture_output=True, text=True)
    check(res.returncode == 4 and "gap" in res.stderr and res.stderr.count("\n") == 1,
          f"gap file: rc={res.returncode} {res.stderr!r}")

if failures:
    print(f"{failures} failure(s)")
    sys.exit(1)
print("safetensors cross-check: all passed")
