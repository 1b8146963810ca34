# tests/finetune_golden.py - golden test of BrainMass fine-tuning (encoder +
# classifier head, cross-entropy, AdamW with separate encoder / head rates)
# against PyTorch.
#
# The reference model is our BrainMass encoder in torch (tests/brainmass_ref.py,
# torch's own TransformerEncoderLayer) followed by the MODELS.md head as an
# nn.Sequential: Linear(8R,H1) BatchNorm1d LeakyReLU Dropout Linear(H1,H2)
# BatchNorm1d LeakyReLU Dropout Linear(H2,C).  A tiny config (R=12, depth 2,
# 2 heads, FFN 32, H1=16, H2=8, 3 classes, batch 8, dropout 0) gets identical
# weights, batches and labels.  Checked, each within atol + rtol*|ref|:
#   step-1 logits and loss                         atol 1e-4, rtol 1e-3
#   step-1 gradients of EVERY parameter            atol 1e-4, rtol 1e-3
#   8-step loss curve                              atol 1e-3
#   parameters + BatchNorm variances after 8 steps  atol 1e-3, rtol 1e-2
#   eval-mode probabilities after training         atol 1e-3
#   embedding of the saved file as an encoder      atol 1e-3, rtol 1e-2
# once fine-tuning everything and once with the encoder frozen (it must not
# move).  The C driver also checks an exact save/load round trip.
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

import brainmass_ref as ref
import brainmass_st as st
from brainmass_golden import close  # atol + rtol*|ref| comparison with a report

R, DEPTH, HEADS, FFN, K, H1, H2, C = 12, 2, 2, 32, 8, 16, 8, 3
B, STEPS, M = 8, 8, 6
LR, ENC_LR, WD = 1e-3, 3e-4, 0.01

# Exact gradient zero (softmax shift invariance for the key bias, batch-mean
# removal for biases feeding a train-mode BatchNorm): AdamW turns their
# round-off into +-lr steps in both implementations, so their values after
# training are noise, and so are the running means of the BatchNorms they
# feed (the eval-mode probabilities, where bias and running mean cancel, are
# compared); their step-1 gradients ARE compared.
ZERO_GRADIENT = ("in_proj_bias", "classifier.net.0.bias", "classifier.net.4.bias", "running_mean")


class FineTune(nn.Module):
    def __init__(self):
        super().__init__()
        self.online_network = ref.Encoder(R, DEPTH, HEADS, FFN, 16, 0.0, K)
        del self.online_network.g  # the projector is not part of the fine-tuned model
        self.classifier = nn.Module()
        self.classifier.net = nn.Sequential(
            nn.Linear(K * R, H1), nn.BatchNorm1d(H1), nn.LeakyReLU(), nn.Dropout(0.0),
            nn.Linear(H1, H2), nn.BatchNorm1d(H2), nn.LeakyReLU(), nn.Dropout(0.0),
            nn.Linear(H2, C))

    def forward(self, x):
        return self.classifier.net(self.online_network.feature(x))


def export(model, path):
    tensors = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    meta = {"rois": R, "depth": DEPTH, "heads": HEADS, "ffn": FFN, "feature_dim": 16, "reduce_dim": K,
            "dropout": 0.0, "brainstage.head.kind": "finetune", "brainstage.head.format": 1,
            "brainstage.head.n_classes": C, "brainstage.head.classes": '["a","b","c"]',
            "finetune.hidden1": H1, "finetune.hidden2": H2, "finetune.head_dropout": 0.0,
            "finetune.leaky_slope": 0.01, "finetune.bn_eps": 1e-5, "finetune.bn_momentum": 0.1}
    st.write(path, tensors, meta)


def run_case(driver, freeze):
    torch.manual_seed(3)
    model = FineTune()
    gen = torch.Generator().manual_seed(9)
    fc = torch.stack([ref.fake_fc(B, R, gen) for _ in range(STEPS)])
    y = torch.randint(0, C, (STEPS, B), generator=gen)
    y[:, :C] = torch.arange(C)  # every class in every batch
    eval_fc = ref.fake_fc(M, R, gen)
    failures, report = [], []
    with tempfile.TemporaryDirectory() as tmp:
        wpath, ipath = os.path.join(tmp, "w.safetensors"), os.path.join(tmp, "in.safetensors")
        opath, cpath = os.path.join(tmp, "out.safetensors"), os.path.join(tmp, "ckpt.safetensors")
        export(model, wpath)
        st.write(ipath, {"fc": fc.numpy(), "y": y.int().numpy(), "eval_fc": eval_fc.numpy()},
                 {"lr": LR, "encoder_lr": ENC_LR, "weight_decay": WD, "freeze": int(freeze)})

        # ---- torch side ----
        enc_params = list(model.online_network.parameters())
        initial_enc = [p.detach().clone() for p in enc_params]
        groups = [{"params": list(model.classifier.parameters()), "lr": LR}]
        if freeze:
            for p in enc_params:
                p.requires_grad_(False)
        else:
            groups.insert(0, {"params": enc_params, "lr": ENC_LR})
        opt = torch.optim.AdamW(groups, weight_decay=WD)
        model.train()
        curve, grads, logits0 = [], {}, None
        for s in range(STEPS):
            logits = model(fc[s])
            loss = F.cross_entropy(logits, y[s])
            opt.zero_grad()
            loss.backward()
            if s == 0:
                logits0 = logits.detach().numpy()
                grads = {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()
                         if p.grad is not None}
            opt.step()
            curve.append(float(loss))
        final = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        model.eval()
        with torch.no_grad():
            probs = F.softmax(model(eval_fc), dim=1).numpy()
            emb = model.online_network.feature(eval_fc).numpy()

        # ---- C side ----
        run = subprocess.run([driver, wpath, ipath, opath, cpath], capture_output=True, text=True)
        sys.stderr.write(run.stderr)
        if run.returncode != 0:
            return [f"driver failed with status {run.returncode}"], []
        out, _ = st.read(opath)

    tag = "frozen" if freeze else "full"
    close(f"{tag} step-1 logits", out["logits0"], logits0, 1e-4, 1e-3, failures, report)
    close(f"{tag} step-1 loss", out["losses"][:1], curve[:1], 1e-4, 1e-3, failures, report)
    n_grads = 0
    for name, g in grads.items():
        key = "grad." + name
        if key not in out:
            failures.append(f"{tag} {key}: not produced by C")
            continue
        close(f"{tag} {key}", out[key].reshape(g.shape), g, 1e-4, 1e-3, failures, report)
        n_grads += 1
    close(f"{tag} loss curve", out["losses"], curve, 1e-3, 0.0, failures, report)
    for name, v in final.items():
        if name.endswith(ZERO_GRADIENT):
            continue
        key = "final." + name
        if key not in out:
            failures.append(f"{tag} {key}: not produced by C")
            continue
        close(f"{tag} {key}", out[key].reshape(v.shape), v, 1e-3, 1e-2, failures, report)
    close(f"{tag} eval probabilities", out["eval_probs"], probs, 1e-3, 0.0, failures, report)
    close(f"{tag} embedding of the saved encoder", out["eval_embed"], emb, 1e-3, 1e-2, failures, report)
    if freeze:
        for (name, _), p0 in zip(model.online_network.named_parameters(), initial_enc):
            key = "final.online_network." + name
            if not np.array_equal(out[key].reshape(p0.shape), p0.numpy()):
                failures.append(f"frozen: C changed {key}")
    worst = {}
    for name, w in report:
        group = name.split(" ")[1].split(".")[0]
        worst[group] = max(worst.get(group, 0.0), w)
    print(f"{tag}: compared {n_grads} gradient tensors and {len(final)} final tensors; "
          + ", ".join(f"max |C - torch| {g} {w:.3g}" for g, w in worst.items()))
    print(f"  loss curve torch: {' '.join(f'{x:.5f}' for x in curve)}")
    print(f"  loss curve C    : {' '.join(f'{x:.5f}' for x in out['losses'])}")
    return failures, report


def main():
    driver = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_finetune_golden")
    if not os.path.exists(driver):
        print(f"missing driver {driver}")
        return 1
    torch.set_num_threads(1)
    failures = []
    for freeze in (False, True):
        f, _ = run_case(driver, freeze)
        failures += f
    if failures:
        for f in failures[:20]:
            print("FAIL", f)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
