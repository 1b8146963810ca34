#!/usr/bin/env python3
"""tests/brainmae_golden.py - BrainMAE C vs PyTorch golden test.

A tiny config (AG and SG encoders) with identical weights and fixed masks:
forward outputs, loss and every parameter gradient must match PyTorch
(float64) within atol 1e-4 + rtol 1e-3, the adjacency alpha and the
attention over segments too, and 10
AdamW steps must track PyTorch's loss curve within 1e-3.  One ROI of one
sample is invalid (NaN in C, masked out of the loss in both).  Two cases run
without dropout (evaluation forward); a third trains with dropout 0.3, the
PyTorch side rebuilding the C keep masks from the same seeds
(brainmae_ref.dropout_keep), and checks that about 30 % is dropped.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import numpy as np
    import torch
    import brainmae_ref as ref
except ImportError as exc:  # skip unless CI requires Python deps
    print("skip: %s" % exc)
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

ATOL, RTOL = 1e-4, 1e-3
STEPS, LR, WD = 10, 1e-2, 0.05
B = 3


def driver():
    top = os.environ.get("top_builddir", os.path.join(os.path.dirname(__file__), ".."))
    return os.path.join(top, "tests", "test_brainmae_golden")


DROP_SEED = 77


def run_case(cfg, seed, tmp):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    specs = ref.param_specs(cfg)
    params = {}
    for name, shape, _ in specs:
        if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name.endswith("norm.weight"):
            t = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.3 * torch.randn(shape, generator=gen)
        params[name] = t.double()
    R, S, tau = cfg["R"], cfg["S"], cfg["tau"]
    X = torch.randn(B, S, R, tau, generator=gen).double()
    V = torch.ones(B, R, dtype=torch.float64)
    V[1, 2] = 0
    X[1, :, 2, :] = 0
    masks = (torch.rand(STEPS + 1, B, S, R, generator=gen) < 0.5).double()

    txt = os.path.join(tmp, "fx.txt")
    binp = os.path.join(tmp, "fx.bin")
    outp = os.path.join(tmp, "out.bin")
    with open(txt, "w") as ft, open(binp, "wb") as fb:
        for k in ("R", "tau", "S", "d", "dk", "ffn", "heads", "n_encoder", "n_temporal",
                  "n_decoder"):
            ft.write("%s %d\n" % (k, cfg[k]))
        ft.write("ag %d\nself_loops %d\nB %d\nsteps %d\nlr %r\nwd %r\n" % (
            cfg["encoder"] == "ag", cfg.get("self_loops", 0), B, STEPS, LR, WD))
        ft.write("dropout %r\nseed %d\n" % (cfg.get("dropout", 0.0), DROP_SEED))
        for name, _, _ in specs:
            a = params[name].numpy().astype(np.float32).ravel()
            ft.write("tensor %s %d\n" % (name, a.size))
            fb.write(a.tobytes())
        for name, t in (("X", X), ("V", V), ("M", masks)):
            a = t.numpy().astype(np.float32).ravel()
            ft.write("tensor %s %d\n" % (name, a.size))
            fb.write(a.tobytes())
    subprocess.run([driver(), txt, binp, outp], check=True)
    out = np.fromfile(outp, dtype=np.float32)

    # the C side saw float32 weights: give torch the same values
    p = {k: torch.tensor(v.numpy().astype(np.float32), dtype=torch.float64, requires_grad=True)
         for k, v in params.items()}
    Xd = torch.tensor(X.numpy().astype(np.float32), dtype=torch.float64)
    res = ref.forward(p, cfg, Xd, masks[0], V, drop(cfg, 0))
    res["loss"].backward()

    pos = 0
    failures = 0

    def take(n):
        nonlocal pos
        a = out[pos:pos + n]
        pos += n
        return a

    def compare(label, c_val, t_val):
        nonlocal failures
        t_val = np.asarray(t_val, dtype=np.float64).ravel()
        c_val = np.asarray(c_val, dtype=np.float64).ravel()
        err = np.abs(c_val - t_val)
        bad = err > ATOL + RTOL * np.abs(t_val)
        if bad.any():
            i = int(np.argmax(err - (ATOL + RTOL * np.abs(t_val))))
            print("FAIL %s: %d of %d beyond tolerance, e.g. [%d] C %.7g torch %.7g"
                  % (label, bad.sum(), bad.size, i, c_val[i], t_val[i]))
            failures += 1
        return err.max() if err.size else 0.0

    worst = {}
    worst["loss"] = compare("loss", take(1), [res["loss"].item()])
    worst["recon"] = compare("recon", take(B * S * R * tau), res["recon"].detach().numpy())
    worst["cls"] = compare("cls", take(B * cfg["d"]), res["cls"].detach().numpy())
    worst["seg"] = compare("seg", take(B * S * cfg["d"]), res["seg"].detach().numpy())
    gmax = 0.0
    for name, shape, _ in specs:
        n = int(np.prod(shape))
        g = p[name].grad
        gmax = max(gmax, compare("grad " + name, take(n),
                                 np.zeros(n) if g is None else g.numpy()))
    worst["grads"] = gmax
    alpha = ref.region_adjacency(p, "enc.0", cfg).detach().numpy()
    worst["alpha"] = compare("alpha", take(R * R), alpha)
    worst["seg_att"] = compare("segment attention", take(B * S), res["seg_att"].detach().numpy())

    # 10 AdamW steps, decay on matrices only (same split as the C table)
    p2 = {k: torch.tensor(v.numpy().astype(np.float32), dtype=torch.float64, requires_grad=True)
          for k, v in params.items()}
    decay = [p2[n] for n, _, dflag in specs if dflag]
    nodecay = [p2[n] for n, _, dflag in specs if not dflag]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD},
                             {"params": nodecay, "weight_decay": 0.0}], lr=LR)
    tl = []
    for s in range(STEPS):
        opt.zero_grad()
        loss = ref.forward(p2, cfg, Xd, masks[s + 1], V, drop(cfg, s + 1))["loss"]
        loss.backward()
        opt.step()
        tl.append(loss.item())
    cl = take(STEPS)
    curve = np.abs(cl - np.array(tl)).max()
    if curve > 1e-3:
        print("FAIL loss curve: C %s torch %s" % (cl, tl))
        failures += 1
    print("%s encoder, self_loops=%d, dropout %g: max |C-torch| loss %.2e recon %.2e cls %.2e "
          "seg %.2e grads %.2e alpha %.2e seg-att %.2e; 10-step curve %.2e (torch %.4f -> %.4f)"
          % (cfg["encoder"].upper(), cfg.get("self_loops", 0), cfg.get("dropout", 0.0),
             worst["loss"], worst["recon"],
             worst["cls"], worst["seg"], worst["grads"], worst["alpha"], worst["seg_att"], curve,
             tl[0], tl[-1]))
    assert pos == out.size, (pos, out.size)
    return failures


def drop(cfg, step):
    """The C driver's masks of pass `step` (no dropout in evaluation cases)."""
    p = cfg.get("dropout", 0.0)
    return ref.Dropout(p, ref.seed_mix(DROP_SEED, step, 0)) if p > 0 else ref.no_dropout


def check_mask_rate(p):
    """The keep masks drop the requested fraction (binomial, 6 sigma)."""
    n = 200000
    dropped = 1.0 - ref.dropout_keep(n, p, ref.seed_mix(DROP_SEED, 0, 1)).mean()
    sigma = (p * (1 - p) / n) ** 0.5
    print("dropout %g: %.5f of %d elements dropped (limit |diff| < %.5f)" % (p, dropped, n, 6 * sigma))
    return 0 if abs(dropped - p) < 6 * sigma else 1


def main():
    torch.set_num_threads(1)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dict(ref.TINY)
        failures += run_case(cfg, 1, tmp)
        cfg = dict(ref.TINY, encoder="sg", self_loops=1, heads=4, n_decoder=1)
        failures += run_case(cfg, 2, tmp)
        cfg = dict(ref.TINY, dropout=0.3)
        failures += run_case(cfg, 3, tmp)
        failures += check_mask_rate(0.3)
    if failures:
        print("%d comparisons failed" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
