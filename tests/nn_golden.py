#!/usr/bin/env python3
"""tests/nn_golden.py - nn core ops vs PyTorch (float32).

Builds small inputs with a fixed seed, runs the PyTorch modules/functions
(Linear, LayerNorm, BatchNorm1d train + eval with running statistics,
MultiheadAttention batch_first with masks, ReLU/LeakyReLU/GELU, softmax,
MSE, BYOL 2-2cos, cross-entropy, BrainMass-style InfoNCE, 10 AdamW steps
with clip_grad_norm_ / clip_grad_value_), writes inputs, outputs and
gradients to a record file in a temporary directory, and runs the C driver
tests/test_nn_golden on it.  The driver compares within
atol 1e-5 + rtol 1e-4 and prints the worst element of every check.

Record file: per tensor u32 name length, name bytes, u32 ndim, i64 dims,
float32 little-endian data.
"""
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as exc:  # skip unless CI requires Python deps
    print("skip: %s" % exc)
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)


def driver():
    if os.environ.get("NN_GOLDEN_DRIVER"):
        return os.environ["NN_GOLDEN_DRIVER"]
    top = os.environ.get("top_builddir", os.path.join(os.path.dirname(__file__), ".."))
    return os.path.join(top, "tests", "test_nn_golden")


class Records:
    def __init__(self):
        self.items = []

    def add(self, name, t):
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().numpy()
        # copy: tensors updated in place later (running stats, optimised
        # parameters) must be recorded as they are now
        a = np.array(t, dtype=np.float32, copy=True, order="C")
        self.items.append((name, a))

    def write(self, path):
        with open(path, "wb") as f:
            for name, a in self.items:
                nb = name.encode()
                f.write(struct.pack("<I", len(nb)) + nb)
                f.write(struct.pack("<I", a.ndim))
                f.write(struct.pack("<%dq" % a.ndim, *a.shape))
                f.write(a.astype("<f4").tobytes())


def rnd(*shape, scale=1.0):
    return (torch.rand(*shape) * 2 - 1) * scale


def linear(r):
    lin = torch.nn.Linear(7, 5)
    x = rnd(6, 7, scale=2).requires_grad_()
    y = lin(x)
    dy = rnd(6, 5)
    y.backward(dy)
    for k, v in [("x", x), ("w", lin.weight), ("b", lin.bias), ("dy", dy), ("y", y),
                 ("dx", x.grad), ("dw", lin.weight.grad), ("db", lin.bias.grad)]:
        r.add("linear." + k, v)


def layernorm(r):
    ln = torch.nn.LayerNorm(10, eps=1e-5)
    with torch.no_grad():
        ln.weight.copy_(rnd(10) + 1)
        ln.bias.copy_(rnd(10))
    x = (rnd(8, 10, scale=3) + 0.5).requires_grad_()
    y = ln(x)
    dy = rnd(8, 10)
    y.backward(dy)
    for k, v in [("x", x), ("w", ln.weight), ("b", ln.bias), ("dy", dy), ("y", y),
                 ("dx", x.grad), ("dw", ln.weight.grad), ("db", ln.bias.grad)]:
        r.add("layernorm." + k, v)


def batchnorm(r):
    bn = torch.nn.BatchNorm1d(12, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(rnd(12) + 1)
        bn.bias.copy_(rnd(12))
        bn.running_mean.copy_(rnd(12))
        bn.running_var.copy_(rnd(12).abs() + 0.5)
    r.add("bn.rm0", bn.running_mean)
    r.add("bn.rv0", bn.running_var)
    bn.train()
    x = (rnd(16, 12, scale=2) + 0.3).requires_grad_()
    y = bn(x)
    dy = rnd(16, 12)
    y.backward(dy)
    for k, v in [("x", x), ("w", bn.weight), ("b", bn.bias), ("dy", dy), ("y", y),
                 ("dx", x.grad), ("dw", bn.weight.grad), ("db", bn.bias.grad),
                 ("rm1", bn.running_mean), ("rv1", bn.running_var)]:
        r.add("bn." + k, v)
    bn.eval()
    x2 = rnd(5, 12, scale=2).requires_grad_()
    bn.weight.grad = None
    bn.bias.grad = None
    y2 = bn(x2)
    dy2 = rnd(5, 12)
    y2.backward(dy2)
    for k, v in [("x2", x2), ("dy2", dy2), ("y2", y2), ("dx2", x2.grad),
                 ("dw2", bn.weight.grad), ("db2", bn.bias.grad)]:
        r.add("bn." + k, v)


def pointwise(r):
    x = rnd(64, scale=4)
    dy = rnd(64)
    r.add("pw.x", x)
    r.add("pw.dy", dy)
    for name, fn in [("relu", torch.relu), ("leaky", lambda t: F.leaky_relu(t, 0.01)),
                     ("gelu_erf", lambda t: F.gelu(t)),
                     ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh"))]:
        xx = x.clone().requires_grad_()
        y = fn(xx)
        y.backward(dy)
        r.add("pw.%s.y" % name, y)
        r.add("pw.%s.dx" % name, xx.grad)
    x = rnd(4, 9, scale=3)
    dy = rnd(4, 9)
    r.add("sm.x", x)
    r.add("sm.dy", dy)
    for name, fn in [("softmax", lambda t: torch.softmax(t, -1)),
                     ("log_softmax", lambda t: torch.log_softmax(t, -1))]:
        xx = x.clone().requires_grad_()
        y = fn(xx)
        y.backward(dy)
        r.add("sm.%s.y" % name, y)
        r.add("sm.%s.dx" % name, xx.grad)


def mha(r):
    B, T, C, H = 2, 5, 12, 3
    m = torch.nn.MultiheadAttention(C, H, dropout=0.0, batch_first=True)
    with torch.no_grad():
        m.in_proj_bias.copy_(rnd(3 * C, scale=0.2))
        m.out_proj.bias.copy_(rnd(C, scale=0.2))
    x = rnd(B, T, C).requires_grad_()
    pad = torch.zeros(B, T, dtype=torch.bool)
    pad[1, 3] = True
    pad[1, 0] = True
    amask = rnd(T, T, scale=0.5)
    amask.fill_diagonal_(float("-inf"))
    y, w = m(x, x, x, key_padding_mask=pad, attn_mask=amask, need_weights=True,
             average_attn_weights=True)
    dy = rnd(B, T, C)
    y.backward(dy)
    r.add("mha.x", x)
    r.add("mha.pad", pad.float())
    r.add("mha.amask_finite", torch.where(torch.isinf(amask), torch.zeros_like(amask), amask))
    r.add("mha.amask_diag_inf", torch.ones(1))
    for k, v in [("in_w", m.in_proj_weight), ("in_b", m.in_proj_bias),
                 ("out_w", m.out_proj.weight), ("out_b", m.out_proj.bias), ("dy", dy),
                 ("y", y), ("attn_avg", w), ("dx", x.grad), ("din_w", m.in_proj_weight.grad),
                 ("din_b", m.in_proj_bias.grad), ("dout_w", m.out_proj.weight.grad),
                 ("dout_b", m.out_proj.bias.grad)]:
        r.add("mha." + k, v)


def losses(r):
    N, D = 6, 10
    p = rnd(N, D).requires_grad_()
    t = rnd(N, D).requires_grad_()
    w = torch.where(torch.rand(N, D) < 0.3, torch.tensor(0.75), torch.tensor(0.25))
    loss = (w * (p - t) ** 2).sum() / (N * D)
    loss.backward()
    for k, v in [("p", p), ("t", t), ("w", w), ("loss", loss.reshape(1)), ("dp", p.grad),
                 ("dt", t.grad)]:
        r.add("mse." + k, v)
    a = rnd(N, D).requires_grad_()
    b = rnd(N, D).requires_grad_()
    loss = (2 - 2 * (F.normalize(a, dim=-1, p=2) * F.normalize(b, dim=-1, p=2)).sum(-1)).mean()
    loss.backward()
    for k, v in [("p", a), ("z", b), ("loss", loss.reshape(1)), ("dp", a.grad), ("dz", b.grad)]:
        r.add("byol." + k, v)
    logits = rnd(N, D, scale=3).requires_grad_()
    tg = torch.tensor([3, 0, -100, 9, 5, 5])
    loss = F.cross_entropy(logits, tg)
    loss.backward()
    for k, v in [("logits", logits), ("targets", tg.float()), ("loss", loss.reshape(1)),
                 ("dlogits", logits.grad)]:
        r.add("ce." + k, v)
    # BrainMass-style identification loss: per sample logits = orig . pred^T,
    # loss = -mean diag(log_softmax(logits, -1))
    Bn, M, R = 3, 4, 8
    orig = rnd(Bn, M, R).requires_grad_()
    pred = rnd(Bn, M, R).requires_grad_()
    lg = torch.bmm(orig, pred.transpose(1, 2))
    loss = -torch.diagonal(torch.log_softmax(lg, -1), dim1=-2, dim2=-1).mean()
    loss.backward()
    for k, v in [("orig", orig), ("pred", pred), ("loss", loss.reshape(1)),
                 ("dorig", orig.grad), ("dpred", pred.grad)]:
        r.add("nce." + k, v)


def adamw(r):
    torch.manual_seed(7)
    w = torch.nn.Parameter(rnd(4, 5))
    b = torch.nn.Parameter(rnd(5))
    v = torch.nn.Parameter(rnd(3))
    r.add("adam.w0", w)
    r.add("adam.b0", b)
    r.add("adam.v0", v)
    opt = torch.optim.AdamW([{"params": [w], "weight_decay": 0.05},
                             {"params": [b], "weight_decay": 0.0},
                             {"params": [v], "weight_decay": 0.05}],
                            lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    lrs, norms = [], []
    for step in range(10):
        lr = 1e-2 * (step + 1) / 3 if step < 3 else 1e-2 * (0.5 + 0.5 * np.cos(np.pi * (step - 3) / 7))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        gw, gb, gv = rnd(4, 5, scale=3), rnd(5, scale=3), rnd(3, scale=3)
        r.add("adam.gw%d" % step, gw)
        r.add("adam.gb%d" % step, gb)
        r.add("adam.gv%d" % step, gv)
        w.grad, b.grad, v.grad = gw.clone(), gb.clone(), gv.clone()
        # w and b: clip by global norm; v: clip by value (as BrainMass does)
        norms.append(float(torch.nn.utils.clip_grad_norm_([w, b], 1.0)))
        torch.nn.utils.clip_grad_value_([v], 1.0)
        lrs.append(lr)
        opt.step()
    r.add("adam.lr", torch.tensor(lrs))
    r.add("adam.norms", torch.tensor(norms))
    r.add("adam.w10", w)
    r.add("adam.b10", b)
    r.add("adam.v10", v)


def sinusoid(r):
    T, C = 12, 10
    pos = np.arange(T)[:, None] / np.power(10000.0, 2 * (np.arange(C)[None, :] // 2) / C)
    tab = np.where(np.arange(C)[None, :] % 2 == 0, np.sin(pos), np.cos(pos))
    r.add("sinusoid", tab)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    r = Records()
    linear(r)
    layernorm(r)
    batchnorm(r)
    pointwise(r)
    mha(r)
    losses(r)
    adamw(r)
    sinusoid(r)
    with tempfile.TemporaryDirectory(prefix="nn_golden.") as tmp:
        path = os.path.join(tmp, "golden.bin")
        r.write(path)
        drv = driver()
        if not os.path.exists(drv):
            print("FAIL: C driver %s not built" % drv)
            return 1
        rc = subprocess.call([drv, path])
    return rc


if __name__ == "__main__":
    sys.exit(main())
