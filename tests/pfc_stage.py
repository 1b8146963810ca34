"""pfc_stage.py - the `pfc` stage through the brainstage CLI: in-memory batch,
streaming to safetensors with out=, and bad-input exits (stdlib only).

test-source produces x[t, r] = t + 1000 r + seed: every column is a linear
function of t, so every pFC of it is all ones whatever the kept subset.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

BS = os.environ.get("BRAINSTAGE", "brainstage")
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL", msg)


def read_st(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        fmt = {"F32": "f", "I32": "i"}[info["dtype"]]
        out[name] = (info["shape"], struct.unpack(f"<{(e - b) // 4}{fmt}", data[b:e]))
    return out, meta


def run(pipeline, tmp, *args):
    path = os.path.join(tmp, "t.pipeline")
    with open(path, "w") as f:
        f.write(pipeline)
    return subprocess.run([BS, "--quiet", "--threads", "2", "run", path, f"out={tmp}", *args],
                          capture_output=True, text=True)


with tempfile.TemporaryDirectory() as tmp:
    res = run("stage src test-source rows=60 cols=5 seed=1\n"
              "stage p pfc input=src n=7 keep_min=0.5 keep_max=0.9 mode=block seed=3\n"
              "sink p safetensors path=${out}/mem.safetensors name=pfc\n", tmp)
    check(res.returncode == 0, f"in-memory run failed: {res.stderr}")
    if res.returncode == 0:
        t, meta = read_st(os.path.join(tmp, "mem.safetensors"))
        shape, vals = t["pfc"]
        check(shape == [7, 5, 5], f"shape {shape}")
        check(all(abs(v - 1.0) < 1e-6 for v in vals), "perfectly correlated input must give all-ones pFCs")
        check("mode=block" in meta.get("pfc", ""), f"metadata {meta}")

    res = run("stage src test-source rows=80 cols=6 seed=2\n"
              "stage p pfc input=src n=33 keep=0.75 chunk=5 out=${out}/stream.safetensors\n"
              "sink p safetensors path=${out}/port.safetensors name=pfc\n", tmp)
    check(res.returncode == 0, f"streaming run failed: {res.stderr}")
    if res.returncode == 0:
        t, meta = read_st(os.path.join(tmp, "stream.safetensors"))
        check(t["pfc"][0] == [33, 6, 6], f"streamed shape {t['pfc'][0]}")
        check(t["kept"][0] == [33] and set(t["kept"][1]) == {60}, f"kept counts {t['kept']}")
        check(meta.get("format") == "brainstage-pfc" and meta.get("timepoints") == "80", f"metadata {meta}")
        port, pmeta = read_st(os.path.join(tmp, "port.safetensors"))
        check(port["pfc"][0] == [0, 6, 6], f"port batch must be empty when streaming: {port['pfc'][0]}")
        check(pmeta.get("pfc_file", "").endswith("stream.safetensors"), f"port metadata {pmeta}")

    # Too few time points for the kept fraction: exit 10 (inconsistent inputs), one line, no file.
    res = run("stage src test-source rows=20 cols=4\n"
              "stage p pfc input=src n=3 keep=0.1 out=${out}/bad.safetensors\n"
              "sink p safetensors path=${out}/bad_port.safetensors\n", tmp)
    err_lines = [l for l in res.stderr.splitlines() if "error" in l]
    check(res.returncode == 10, f"keep too small: exit {res.returncode}: {res.stderr}")
    check(len(err_lines) == 1 and "at least 3" in err_lines[0], f"message: {res.stderr!r}")
    check(not os.path.exists(os.path.join(tmp, "bad.safetensors")), "partial output left behind")

    # keep_min without keep_max is a usage error.
    res = run("stage src test-source rows=20 cols=4\nstage p pfc input=src keep_min=0.5\n"
              "sink p safetensors path=${out}/x.safetensors\n", tmp)
    check(res.returncode == 2 and "keep_max" in res.stderr, f"keep_min alone: {res.returncode} {res.stderr}")
    leftovers = [f for f in os.listdir(tmp) if f.startswith(".")]
    check(not leftovers, f"temporary files left: {leftovers}")

if failures:
    print(f"{failures} failure(s)")
    sys.exit(1)
print("pfc stage: all passed")
