# tests/brainmass_interp.py - the `brainmass` stage's interpretation outputs
# against our PyTorch reference (tests/brainmass_ref.py), through the stage
# plugin and the `safetensors` sink as a pipeline runs them
# (test_brainmass_golden plugin ...):
#   embedding        N x 8R     vs Encoder.feature()              atol 1e-4 + rtol 1e-3
#   tokens           N x R x R  vs Encoder.tokens() (final layer)  atol 1e-5 + rtol 1e-4
#   attention=heads  (N*L*H) x R x R vs self_attn(need_weights=True,
#                    average_attn_weights=False) of every layer    atol 1e-5 + rtol 1e-4
#   attention=mean   (N*L) x R x R vs average_attn_weights=True    atol 1e-5 + rtol 1e-4
# plus the sink's metadata (kind, layout, shape, ROI labels, attributes).
# FFN width 600 runs the C inference FFN in two column blocks (512 + 88) and
# N = 5 samples give a partial chunk of the sample-parallel encoder.
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import numpy as np
    import torch
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

import brainmass_golden as golden
import brainmass_ref as ref
import brainmass_st as st

CFG = dict(rois=12, depth=2, heads=3, ffn=600, feature_dim=16, mrm_mask=5, nce_mask=10)
N = 5


def close(name, got, want, atol, rtol, failures):
    """The golden test's comparison, printing the worst difference."""
    report = []
    golden.close(name, got, want, atol, rtol, failures, report)
    if report:
        print(f"  {name:16} max |C - torch| {report[0][1]:.3g} (atol {atol} + rtol {rtol}*|ref|)")


def torch_outputs(model, fc):
    enc = model.online_network
    heads, means = [], []
    with torch.no_grad():
        x = fc
        for layer in enc.attention_list:
            _, w = layer.self_attn(x, x, x, need_weights=True, average_attn_weights=False)
            _, wm = layer.self_attn(x, x, x, need_weights=True, average_attn_weights=True)
            heads.append(w.numpy())
            means.append(wm.numpy())
            x = layer(x)
        tokens = x.numpy()
        emb = enc.feature(fc).numpy()
    # [N, L, H, R, R] and [N, L, R, R]
    return emb, tokens, np.stack(heads, 1), np.stack(means, 1)


def main():
    driver = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_brainmass_golden")
    torch.manual_seed(11)
    torch.set_num_threads(1)
    model = ref.BrainMass(dropout=0.0, **CFG)
    model.eval()
    gen = torch.Generator().manual_seed(12)
    fc = ref.fake_fc(N, CFG["rois"], gen)
    emb, tokens, heads, means = torch_outputs(model, fc)
    R, L, H = CFG["rois"], CFG["depth"], CFG["heads"]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        wpath, ipath = os.path.join(tmp, "w.safetensors"), os.path.join(tmp, "in.safetensors")
        st.write(wpath, {k: v.detach().numpy() for k, v in model.state_dict().items()},
                 dict(CFG, reduce_dim=8, dropout=0.0, train_extras=1))
        st.write(ipath, {"fc": fc.numpy()})
        run = subprocess.run([driver, "plugin", wpath, ipath, tmp], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"driver failed ({run.returncode}): {run.stderr.strip()}")
            return 1
        out = {k: st.read(os.path.join(tmp, k + ".safetensors"))
               for k in ("embedding", "tokens", "attention_heads", "attention_mean")}
    labels = [f"roi{i}" for i in range(R)]
    print(f"R={R}, depth {L}, {H} heads, FFN {CFG['ffn']}, N={N}")
    close("embedding", out["embedding"][0]["data"], emb, 1e-4, 1e-3, failures)
    close("tokens", out["tokens"][0]["data"], tokens, 1e-5, 1e-4, failures)
    ah = out["attention_heads"][0]["data"]
    am = out["attention_mean"][0]["data"]
    if ah.shape != (N * L * H, R, R) or am.shape != (N * L, R, R):
        failures.append(f"attention shapes {ah.shape}, {am.shape}: expected {(N * L * H, R, R)}, "
                        f"{(N * L, R, R)}")
    else:
        close("attention heads", ah.reshape(N, L, H, R, R), heads, 1e-5, 1e-4, failures)
        close("attention mean", am.reshape(N, L, R, R), means, 1e-5, 1e-4, failures)
        rows = np.abs(ah.sum(-1) - 1).max()
        if rows > 1e-5:
            failures.append(f"attention rows sum to 1 within {rows:.3g}, expected 1e-5")
    expect = {"tokens": ("matrix_batch", "sample,roi,feature", None),
              "attention_heads": ("matrix_batch", "sample,layer,head,query,key", f"{N},{L},{H},{R},{R}"),
              "attention_mean": ("matrix_batch", "sample,layer,query,key", f"{N},{L},{R},{R}"),
              "embedding": ("embedding", None, None)}
    for name, (kind, layout, shape) in expect.items():
        meta = out[name][1]
        if meta.get("kind") != kind or meta.get("model") != "brainmass" or meta.get("entities") != "sub-01":
            failures.append(f"{name}: metadata kind/model/entities {meta.get('kind')}/{meta.get('model')}/"
                            f"{meta.get('entities')}")
        if layout and meta.get("layout") != layout:
            failures.append(f"{name}: layout {meta.get('layout')!r}, expected {layout!r}")
        if shape and meta.get("shape") != shape:
            failures.append(f"{name}: shape attribute {meta.get('shape')!r}, expected {shape!r}")
        if kind == "matrix_batch" and json.loads(meta.get("labels", "[]")) != labels:
            failures.append(f"{name}: ROI labels {meta.get('labels')}")
    if failures:
        for f in failures:
            print("FAIL", f)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
