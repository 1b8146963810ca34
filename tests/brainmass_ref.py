# tests/brainmass_ref.py - our own PyTorch re-implementation of the BrainMass
# pretraining model, used as the golden reference for the C code.
#
# It follows the architecture of the published reference (MODELS.md): post-norm
# PyTorch TransformerEncoderLayers with d_model = R over FC rows, a per-token
# Linear(R->8)+LeakyReLU readout flattened to 8R, a BatchNorm projector g, a
# BYOL predictor and EMA target, and two masked-ROI heads (MSE regression and
# InfoNCE identification) run on view 1 with cls/dist tokens and a sinusoidal
# table.  Module and parameter names reproduce the reference state_dict keys
# so its .pth files and ours share one naming scheme.
#
# Differences that exist only to make golden tests possible: every size is an
# argument, dropout can be switched off, and the masked ROI indices may be
# supplied by the caller instead of being drawn inside forward().
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoid_table(n_pos, dim):
    """(n_pos, dim) table: angle pos / 10000^(2*(j//2)/dim); sin on even j, cos on odd j."""
    pos = np.arange(n_pos, dtype=np.float64)[:, None]
    j = np.arange(dim)
    angle = pos / np.power(10000.0, 2.0 * (j // 2) / dim)[None, :]
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    return torch.tensor(table, dtype=torch.float32)


class ProjectionHead(nn.Module):
    """Linear -> BatchNorm1d -> ReLU -> Linear; parameters under `net.{0,1,3}`."""

    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, n_hidden), nn.BatchNorm1d(n_hidden),
                                 nn.ReLU(), nn.Linear(n_hidden, n_out))

    def forward(self, x):
        return self.net(x)


class Encoder(nn.Module):
    """The 'online'/'target' network: transformer over FC rows, readout, projector g."""

    def __init__(self, rois, depth, heads, ffn, feature_dim, dropout, reduce_dim=8):
        super().__init__()
        self.rois = rois
        self.attention_list = nn.ModuleList([
            nn.TransformerEncoderLayer(d_model=rois, nhead=heads, dim_feedforward=ffn,
                                       dropout=dropout, batch_first=True)
            for _ in range(depth)])
        self.dim_reduction = nn.Sequential(nn.Linear(rois, reduce_dim), nn.LeakyReLU())
        self.g = ProjectionHead(reduce_dim * rois, 2 * reduce_dim * rois, feature_dim)

    def tokens(self, x):
        for layer in self.attention_list:
            x = layer(x)
        return x

    def feature(self, x):
        """The 8R downstream feature."""
        return self.dim_reduction(self.tokens(x)).reshape(x.shape[0], -1)

    def forward(self, x):
        return self.g(self.feature(x))


class BrainMass(nn.Module):
    def __init__(self, rois=12, depth=2, heads=2, ffn=32, feature_dim=16, dropout=0.1,
                 momentum=0.996, mrm_mask=5, nce_mask=10, reduce_dim=8):
        super().__init__()
        self.rois, self.momentum = rois, momentum
        self.mrm_mask, self.nce_mask = mrm_mask, nce_mask
        self.online_network = Encoder(rois, depth, heads, ffn, feature_dim, dropout, reduce_dim)
        self.target_network = Encoder(rois, depth, heads, ffn, feature_dim, dropout, reduce_dim)
        self.predictor = ProjectionHead(feature_dim, 2 * feature_dim, feature_dim)
        self.mask_embed = nn.Parameter(torch.zeros(1, 1, rois))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, rois))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, rois))
        for p in (self.mask_embed, self.cls_token, self.dist_token):
            nn.init.xavier_normal_(p)
        self.cpred = nn.Sequential(nn.Linear(rois, ffn), nn.LeakyReLU(), nn.Linear(ffn, rois))
        self.gpred = nn.Sequential(nn.Linear(rois, ffn), nn.LeakyReLU(), nn.Linear(ffn, rois))
        self.register_buffer("pos_table", sinusoid_table(rois + 2, rois), persistent=False)
        self.init_target()

    @torch.no_grad()
    def init_target(self):
        for po, pt in zip(self.online_network.parameters(), self.target_network.parameters()):
            pt.copy_(po)
            pt.requires_grad_(False)

    @torch.no_grad()
    def update_target(self):
        m = self.momentum
        for po, pt in zip(self.online_network.parameters(), self.target_network.parameters()):
            pt.mul_(m).add_(po, alpha=1.0 - m)

    def random_masks(self, batch, count, gen):
        return torch.stack([torch.randperm(self.rois, generator=gen)[:count] for _ in range(batch)])

    def masked_tokens(self, x, idx):
        """Replace rows idx[b] of x[b] by the mask token, prepend cls/dist, add the table."""
        B, T, R = x.shape
        keep = torch.ones(B, T, 1, dtype=x.dtype)
        for b in range(B):
            keep[b, idx[b]] = 0.0
        z = x * keep + (1.0 - keep) * self.mask_embed.expand(B, T, R)
        z = torch.cat([self.cls_token.expand(B, -1, -1), self.dist_token.expand(B, -1, -1), z], 1)
        return z + self.pos_table[None]

    def masked_outputs(self, x, idx, head):
        out = self.online_network.tokens(self.masked_tokens(x, idx))
        return torch.stack([head(out[b, idx[b] + 2]) for b in range(x.shape[0])])

    def loss_mrm(self, x, idx):
        pred = self.masked_outputs(x, idx, self.gpred)
        target = torch.stack([x[b, idx[b]] for b in range(x.shape[0])])
        return ((pred - target) ** 2).mean()

    def loss_nce(self, x, idx):
        pred = self.masked_outputs(x, idx, self.cpred)
        B, m = idx.shape
        nce, correct = 0.0, 0
        for b in range(B):
            orig = x[b, idx[b]].detach()
            logits = orig @ pred[b].t()
            nce = nce + torch.diagonal(F.log_softmax(logits, dim=-1)).sum()
            correct += int((logits.argmax(dim=0) == torch.arange(m)).sum())
        return nce / (-1.0 * B * m), correct / (B * m)

    @staticmethod
    def byol_pair(p, t):
        return 2.0 - 2.0 * (F.normalize(p, dim=1) * F.normalize(t, dim=1)).sum(-1)

    def losses(self, v1, v2, mrm_idx, nce_idx):
        """All three losses of one pretraining step (the reference's call order)."""
        nce, acc = self.loss_nce(v1, nce_idx)
        mse = self.loss_mrm(v1, mrm_idx)
        p1 = self.predictor(self.online_network(v1))
        p2 = self.predictor(self.online_network(v2))
        with torch.no_grad():
            t_of_1 = self.target_network(v1)
            t_of_2 = self.target_network(v2)
        byol = (self.byol_pair(p1, t_of_2) + self.byol_pair(p2, t_of_1)).mean()
        return byol, nce, mse, acc

    def trainable_parameters(self, train_extras=True):
        params = list(self.online_network.parameters()) + list(self.predictor.parameters())
        if train_extras:
            params += [self.mask_embed, self.cls_token, self.dist_token]
            params += list(self.cpred.parameters()) + list(self.gpred.parameters())
        return params


def train_step(model, opt, v1, v2, mrm_idx, nce_idx, weights=(1.0, 0.1, 2.0), clip=1.0):
    byol, nce, mse, acc = model.losses(v1, v2, mrm_idx, nce_idx)
    total = weights[0] * byol + weights[1] * nce + weights[2] * mse
    opt.zero_grad()
    total.backward()
    torch.nn.utils.clip_grad_value_([p for p in model.parameters() if p.grad is not None], clip)
    opt.step()
    model.update_target()
    return float(total), float(byol), float(nce), float(mse), acc


def fake_fc(batch, rois, gen, timepoints=None):
    """Correlation matrices of random time series (a stand-in for pFC views)."""
    t = timepoints or max(3 * rois, 20)
    mats = []
    for _ in range(batch):
        ts = torch.randn(t, rois, generator=gen, dtype=torch.float64)
        ts = ts + 0.7 * torch.randn(t, 1, generator=gen, dtype=torch.float64)
        ts = (ts - ts.mean(0)) / ts.std(0)
        c = (ts.t() @ ts) / (t - 1)
        mats.append(c)
    return torch.stack(mats).float()


if __name__ == "__main__":
    torch.manual_seed(0)
    m = BrainMass()
    g = torch.Generator().manual_seed(1)
    v1, v2 = fake_fc(4, 12, g), fake_fc(4, 12, g)
    print(m.losses(v1, v2, m.random_masks(4, 5, g), m.random_masks(4, 10, g)))
    print(math.fsum(p.numel() for p in m.parameters()), "parameters")
