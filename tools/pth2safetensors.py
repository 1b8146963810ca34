#!/usr/bin/env python3
# tools/pth2safetensors.py - convert a BrainMass PyTorch checkpoint (.pth) of
# the reference code (podismine/BrainMass) to brainstage safetensors.
#
# Accepted inputs:
#   * the reference's save_model() dict {'model', 'online_network_state_dict',
#     'target_network_state_dict'}: the full 'model' state_dict is used;
#   * a bare trainer state_dict (keys 'online_network.…', 'predictor.…', …);
#   * a bare encoder state_dict (keys 'attention_list.…', 'dim_reduction.…',
#     'g.…'), e.g. online_network_state_dict saved on its own: it is put
#     under 'online_network.'.
# A 'module.' prefix (DistributedDataParallel) is removed.  The reference
# trainer's unused LayerNorm 'norm.*' is dropped.  Tensor names are kept
# otherwise (brainstage uses the reference names), floats become F32 and
# num_batches_tracked stays I64.  The config brainstage needs and cannot read
# from shapes (heads) comes from --heads (the reference uses 10).
#
# Requires torch (only this tool; brainstage itself never needs Python).
import argparse
import json
import os
import struct
import sys


def write_safetensors(path, tensors, metadata):
    import numpy as np
    names = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def pick_state_dict(obj):
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        return obj["model"], "model"
    if isinstance(obj, dict) and "online_network_state_dict" in obj:
        return {"online_network." + k: v for k, v in obj["online_network_state_dict"].items()}, \
            "online_network_state_dict"
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise SystemExit("pth2safetensors: input is not a state_dict or a BrainMass checkpoint dict")
    return obj, "state_dict"


def convert(state, heads):
    import torch
    out, dropped = {}, []
    for key, value in state.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if key.startswith(("attention_list.", "dim_reduction.", "g.")):
            key = "online_network." + key
        if key.startswith("norm.") or key == "pos_embed" or not torch.is_tensor(value):
            dropped.append(key)
            continue
        if key.endswith("num_batches_tracked"):
            out[key] = value.detach().cpu().to(torch.int64).reshape(()).numpy()
        else:
            out[key] = value.detach().cpu().to(torch.float32).numpy()
    norm1 = out.get("online_network.attention_list.0.norm1.weight")
    if norm1 is None:
        raise SystemExit("pth2safetensors: no online_network.attention_list.0.norm1.weight: "
                         "not a BrainMass checkpoint")
    rois = int(norm1.shape[0])
    depth = 0
    while f"online_network.attention_list.{depth}.norm1.weight" in out:
        depth += 1
    if rois % heads:
        raise SystemExit(f"pth2safetensors: --heads {heads} does not divide the {rois} ROIs")
    meta = {"format": "brainstage.brainmass.v1", "rois": rois, "depth": depth, "heads": heads,
            "ffn": int(out["online_network.attention_list.0.linear1.weight"].shape[0]),
            "reduce_dim": int(out["online_network.dim_reduction.0.weight"].shape[0])}
    if "online_network.g.net.3.weight" in out:
        meta["feature_dim"] = int(out["online_network.g.net.3.weight"].shape[0])
    return out, meta, dropped


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1] if __doc__ else None)
    ap.add_argument("input", help="reference .pth checkpoint")
    ap.add_argument("output", help="safetensors file to write")
    ap.add_argument("--heads", type=int, default=10, help="attention heads (reference: 10)")
    ap.add_argument("--mrm-mask", type=int, default=5)
    ap.add_argument("--nce-mask", type=int, default=10)
    args = ap.parse_args(argv)
    import torch
    obj = torch.load(args.input, map_location="cpu")
    state, source = pick_state_dict(obj)
    tensors, meta, dropped = convert(state, args.heads)
    meta.update({"mrm_mask": min(args.mrm_mask, meta["rois"]),
                 "nce_mask": min(args.nce_mask, meta["rois"]),
                 "converted_from": os.path.basename(args.input) + ":" + source})
    write_safetensors(args.output, tensors, meta)
    print(f"{args.output}: {len(tensors)} tensors from '{source}' (R={meta['rois']}, "
          f"depth={meta['depth']}, heads={meta['heads']})"
          + (f"; dropped {', '.join(dropped)}" if dropped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
