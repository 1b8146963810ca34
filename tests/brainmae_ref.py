#!/usr/bin/env python3
"""tests/brainmae_ref.py - PyTorch reference of BrainMAE as brainstage builds it.

This is the golden model for the C implementation (core/brainmae/): same
parameter names, shapes and order as bs_brainmae_param_table(), same
forward pass, same loss.  docs/brainmae.md describes the architecture.
Used by tests/brainmae_golden.py and bench/brainmae/bench.py; not imported
at product run time.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

LN_EPS = 1e-5
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15

# dropout sites of a block and block offsets of the mask seeds (core/brainmae/model.c)
SITE_ATT_PROB, SITE_ATT_BRANCH, SITE_FFN_HIDDEN, SITE_FFN_BRANCH = 0, 1, 2, 3
SEED_TEMPORAL, SEED_DECODER = 100, 200


def splitmix64(x):
    """bs_splitmix64 on Python ints or numpy uint64 arrays."""
    if isinstance(x, np.ndarray):
        with np.errstate(over="ignore"):
            x = x + np.uint64(GOLDEN)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return x ^ (x >> np.uint64(31))
    x = (x + GOLDEN) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def seed_mix(seed, a, b):
    """nn_seed_mix of the nn core."""
    return splitmix64(splitmix64(splitmix64(seed) ^ a) ^ ((b + 0x632BE59BD9B4E019) & M64))


def mix32(x):
    """mix32 of core/brainmae/ops.c on a numpy uint32 array."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint32(16))
        x = x * np.uint32(0x7FEB352D)
        x = x ^ (x >> np.uint32(15))
        x = x * np.uint32(0x846CA68B)
        return x ^ (x >> np.uint32(16))


def dropout_keep(n, p, seed):
    """mae_dropout_mask: element i is dropped when the top 16 bits of
    mix32(seed mod 2^32 + i * 0x9E3779B9) are below round(p * 65536)."""
    i = np.arange(n, dtype=np.uint32)
    with np.errstate(over="ignore"):
        h = mix32(np.uint32(seed & 0xFFFFFFFF) + i * np.uint32(0x9E3779B9))
    return (h >> np.uint32(16)) >= int(p * 65536.0 + 0.5)


class Dropout:
    """Training-mode dropout of the C model: masks from (seed, block, site)
    exactly as bs_brainmae_forward_train draws them.  native=True uses
    torch's own dropout instead (same rate, other masks; for the benchmark)."""

    def __init__(self, p, seed=0, native=False):
        self.p, self.seed, self.native = p, seed, native

    def __call__(self, x, block, site):
        if self.p <= 0:
            return x
        if self.native:
            return F.dropout(x, self.p, training=True)
        keep = dropout_keep(x.numel(), self.p, seed_mix(self.seed, block, site))
        keep = torch.from_numpy(keep.reshape(x.shape).astype(np.float64)).to(x.dtype)
        return x * keep / (1.0 - self.p)


def no_dropout(x, block, site):
    return x


def param_specs(cfg):
    """[(name, shape, weight_decay)] in the C flat-buffer order."""
    R, tau, d, dk, f = cfg["R"], cfg["tau"], cfg["d"], cfg["dk"], cfg["ffn"]
    S = cfg["S"]
    specs = [("roi_embed", (R, d), 0), ("mask_token", (d,), 0),
             ("in_proj.weight", (d, tau), 1), ("in_proj.bias", (d,), 0)]

    def ln(p):
        return [(p + ".weight", (d,), 0), (p + ".bias", (d,), 0)]

    def ffn(p):
        return [(p + ".fc1.weight", (f, d), 1), (p + ".fc1.bias", (f,), 0),
                (p + ".fc2.weight", (d, f), 1), (p + ".fc2.bias", (d,), 0)]

    def ra_block(p):
        return (ln(p + ".ln1") +
                [(p + ".wq.weight", (dk, d), 1), (p + ".wk.weight", (dk, d), 1),
                 (p + ".wv.weight", (d, d), 1), (p + ".wv.bias", (d,), 0)] +
                ln(p + ".ln2") + ffn(p))

    def sa_block(p):
        return (ln(p + ".ln1") +
                [(p + ".qkv.weight", (3 * d, d), 1), (p + ".qkv.bias", (3 * d,), 0),
                 (p + ".proj.weight", (d, d), 1), (p + ".proj.bias", (d,), 0)] +
                ln(p + ".ln2") + ffn(p))

    for i, kind in enumerate(encoder_kinds(cfg)):
        specs += ra_block("enc.%d" % i) if kind == "ra" else sa_block("enc.%d" % i)
    specs += ln("enc_norm")
    specs += [("seg_proj.weight", (d, d), 1), ("seg_proj.bias", (d,), 0),
              ("cls_token", (d,), 0), ("temporal_pos", (S + 1, d), 0)]
    for i in range(cfg["n_temporal"]):
        specs += sa_block("temporal.%d" % i)
    specs += ln("temporal_norm")
    specs += [("dec_ctx.weight", (d, d), 1), ("dec_ctx.bias", (d,), 0)]
    for i in range(cfg["n_decoder"]):
        specs += sa_block("decoder.%d" % i)
    specs += ln("dec_norm")
    specs += [("dec_out.weight", (tau, d), 1), ("dec_out.bias", (tau,), 0)]
    return specs


def encoder_kinds(cfg):
    """SG: every encoder block region-aware; AG: the first region-aware, the rest self-attention."""
    n = cfg["n_encoder"]
    if cfg["encoder"] == "sg":
        return ["ra"] * n
    return ["ra"] + ["sa"] * (n - 1)


def init_params(cfg, gen):
    """Same scheme as the C initialiser (not bit-identical: tests copy weights)."""
    params = {}
    for name, shape, _ in param_specs(cfg):
        if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name.endswith("norm.weight"):
            t = torch.ones(shape)
        elif name.endswith(".bias"):
            t = torch.zeros(shape)
        else:
            t = torch.randn(shape, generator=gen) * 0.02
        params[name] = t.double()
    return params


def gelu(x, kind):
    return F.gelu(x, approximate="tanh") if kind == "tanh" else F.gelu(x)


def layer_norm(x, p, name):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"], LN_EPS)


def ffn(x, p, name, cfg, drop, block):
    h = gelu(F.linear(x, p[name + ".fc1.weight"], p[name + ".fc1.bias"]), cfg["gelu"])
    h = drop(h, block, SITE_FFN_HIDDEN)
    return drop(F.linear(h, p[name + ".fc2.weight"], p[name + ".fc2.bias"]), block,
                SITE_FFN_BRANCH)


def region_adjacency(p, name, cfg):
    """alpha = row-softmax((E Wq^T)(E Wk^T)^T / sqrt(dk)) with the diagonal removed."""
    E = p["roi_embed"]
    q = E @ p[name + ".wq.weight"].t()
    k = E @ p[name + ".wk.weight"].t()
    a = q @ k.t() / math.sqrt(cfg["dk"])
    R = E.shape[0]
    if not cfg.get("self_loops", False):
        a = a.masked_fill(torch.eye(R, dtype=torch.bool), float("-inf"))
    return torch.softmax(a, dim=-1)


def ra_block(x, p, name, cfg, drop=no_dropout, block=0):
    """x: (..., R, d).  Values from node features, graph from ROI embeddings
    (alpha itself is not dropped: one graph for every window)."""
    alpha = region_adjacency(p, name, cfg)
    u = layer_norm(x, p, name + ".ln1")
    v = F.linear(u, p[name + ".wv.weight"], p[name + ".wv.bias"])
    x = x + drop(alpha @ v, block, SITE_ATT_BRANCH)
    return x + ffn(layer_norm(x, p, name + ".ln2"), p, name, cfg, drop, block)


def sa_block(x, p, name, cfg, drop=no_dropout, block=0, record=None):
    """Pre-LN multi-head self-attention block over the second-to-last axis
    (dropout like torch.nn.TransformerEncoderLayer: probabilities, both
    branches, FFN hidden layer).  record (a list) receives the attention
    probabilities before dropout."""
    d, nh = cfg["d"], cfg["heads"]
    dh = d // nh
    u = layer_norm(x, p, name + ".ln1")
    qkv = F.linear(u, p[name + ".qkv.weight"], p[name + ".qkv.bias"])
    lead = qkv.shape[:-2]
    n = qkv.shape[-2]
    qkv = qkv.reshape(*lead, n, 3, nh, dh)
    q = qkv[..., 0, :, :].transpose(-2, -3)
    k = qkv[..., 1, :, :].transpose(-2, -3)
    v = qkv[..., 2, :, :].transpose(-2, -3)
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
    if record is not None:
        record.append(att)
    att = drop(att, block, SITE_ATT_PROB)
    o = (att @ v).transpose(-2, -3).reshape(*lead, n, d)
    x = x + drop(F.linear(o, p[name + ".proj.weight"], p[name + ".proj.bias"]), block,
                 SITE_ATT_BRANCH)
    return x + ffn(layer_norm(x, p, name + ".ln2"), p, name, cfg, drop, block)


def forward(p, cfg, X, M, V, drop=no_dropout):
    """X: (B,S,R,tau) segments; M: (B,S,R) 1 = masked; V: (B,R) 1 = valid ROI;
    drop: no_dropout (evaluation) or a Dropout (training).

    Returns dict with loss, recon (B,S,R,tau), cls (B,d), seg (B,S,d) and
    seg_att (B,S): the CLS token's attention to each segment in the last
    temporal block, mean over heads (bs_brainmae_segment_attention)."""
    B, S, R, tau = X.shape
    hidden = M.clamp(max=1) + (1 - V)[:, None, :]
    hidden = (hidden > 0).to(X.dtype)[..., None]          # masked or invalid ROI
    h = F.linear(X, p["in_proj.weight"], p["in_proj.bias"])
    h = h * (1 - hidden) + p["mask_token"] * hidden
    for i, kind in enumerate(encoder_kinds(cfg)):
        h = (ra_block if kind == "ra" else sa_block)(h, p, "enc.%d" % i, cfg, drop, i)
    z = layer_norm(h, p, "enc_norm")                        # (B,S,R,d)
    seg = F.linear(z.mean(dim=2), p["seg_proj.weight"], p["seg_proj.bias"])  # (B,S,d)
    cls = p["cls_token"].expand(B, 1, -1)
    t = torch.cat([cls, seg], dim=1) + p["temporal_pos"]
    tatt = []
    for i in range(cfg["n_temporal"]):
        t = sa_block(t, p, "temporal.%d" % i, cfg, drop, SEED_TEMPORAL + i, tatt)
    t = layer_norm(t, p, "temporal_norm")
    ctx = F.linear(t[:, 1:], p["dec_ctx.weight"], p["dec_ctx.bias"])
    y = z + ctx[:, :, None, :]
    for i in range(cfg["n_decoder"]):
        y = sa_block(y, p, "decoder.%d" % i, cfg, drop, SEED_DECODER + i)
    y = layer_norm(y, p, "dec_norm")
    recon = F.linear(y, p["dec_out.weight"], p["dec_out.bias"])
    err = ((recon - X) ** 2).sum(dim=-1)                    # (B,S,R)
    valid = V[:, None, :].expand(B, S, R)
    mk = M * valid
    um = (1 - M) * valid
    loss = X.new_zeros(())
    if mk.sum() > 0:
        loss = loss + cfg["w_masked"] * (err * mk).sum() / (mk.sum() * tau)
    if um.sum() > 0:
        loss = loss + cfg["w_unmasked"] * (err * um).sum() / (um.sum() * tau)
    return {"loss": loss, "recon": recon, "cls": t[:, 0], "seg": t[:, 1:],
            "seg_att": tatt[-1][:, :, 0, 1:].mean(dim=1)}


TINY = dict(R=6, tau=4, S=3, d=8, dk=4, ffn=16, heads=2, encoder="ag", n_encoder=3,
            n_temporal=2, n_decoder=2, gelu="tanh", w_masked=0.75, w_unmasked=0.25)
