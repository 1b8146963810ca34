# tests/brainmass_convert.py - tools/pth2safetensors.py on .pth files in the
# reference's layouts (saved by our PyTorch reference model with the
# reference trainer's extra unused 'norm.*' LayerNorm): the full
# save_model() dict and a bare online_network state_dict saved under
# DataParallel's 'module.' prefix.  The converted files must load in C and
# give the torch eval embedding within atol 1e-4 + rtol 1e-3.
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

try:
    import numpy as np
    import torch
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

import brainmass_ref as ref
import brainmass_st as st
import pth2safetensors


def main():
    driver = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_brainmass_golden")
    torch.manual_seed(3)
    cfg = dict(rois=20, depth=2, heads=10, ffn=40, feature_dim=24)
    model = ref.BrainMass(dropout=0.1, **cfg)
    # give BatchNorm non-trivial running statistics, as a trained file would have
    gen = torch.Generator().manual_seed(4)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model.predictor(model.online_network(ref.fake_fc(6, 20, gen)))
    model.eval()
    fc = ref.fake_fc(5, 20, gen)
    with torch.no_grad():
        want = model.online_network.feature(fc).numpy()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        full = model.state_dict()
        full["norm.weight"] = torch.ones(20)
        full["norm.bias"] = torch.zeros(20)
        layouts = {
            "save_model": {"model": full,
                           "online_network_state_dict": model.online_network.state_dict(),
                           "target_network_state_dict": model.target_network.state_dict()},
            "online_module": {"module." + k: v for k, v in model.online_network.state_dict().items()},
        }
        ipath = os.path.join(tmp, "fc.safetensors")
        st.write(ipath, {"fc": fc.numpy()})
        for name, obj in layouts.items():
            pth = os.path.join(tmp, name + ".pth")
            out = os.path.join(tmp, name + ".safetensors")
            torch.save(obj, pth)
            pth2safetensors.main([pth, out])
            tensors, meta = st.read(out)
            if any(k.startswith("norm.") for k in tensors) or meta.get("heads") != "10":
                print(f"FAIL {name}: norm.* kept or heads metadata missing")
                failures += 1
            emb_path = os.path.join(tmp, name + ".out.safetensors")
            run = subprocess.run([driver, "embed", out, ipath, emb_path], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"FAIL {name}: C could not use the converted file: {run.stderr.strip()}")
                failures += 1
                continue
            got = st.read(emb_path)[0]["embed"]
            diff = np.abs(got - want)
            ok = np.all(diff <= 1e-4 + 1e-3 * np.abs(want))
            print(f"{name}: {len(tensors)} tensors, max |C - torch| embedding {diff.max():.3g}"
                  f" {'ok' if ok else 'FAIL'}")
            failures += 0 if ok else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
