"""bench_parcellate.py - streaming parcellation vs gzip -dc vs nibabel+numpy.

One run, same input for everyone: a simulated 91x109x91x200 float32 BOLD
run (.nii.gz, MNI 2 mm grid; generated once and cached) parcellated with
the AAL atlas (mricron-data, 1 mm, resampled to the BOLD grid).

  gzip -dc       : the floor - just inflating the file.
  brainstage     : the real atlas-label plugin module, dlopen'ed by
                   tests/atlas_run (prefetch on = 2 threads, and off).
  nibabel+numpy  : nib.load + np.asanyarray(img.dataobj) (float32, the whole
                   run in memory) + nearest-neighbour atlas on the BOLD grid
                   + scipy.ndimage.mean per volume (what nilearn's
                   NiftiLabelsMasker does underneath).

Wall time and peak RSS of each command come from GNU time (%e, %M).
The machine may be shared: figures are labelled with the load average.

usage: bench_parcellate.py --run tests/atlas_run --module plugins/.libs/atlas_label.so
       [--dir /tmp/brainstage-bench-parcellate] [--volumes 200]
"""
import argparse
import gzip
import os
import subprocess
import sys
import time

PEER = r"""
import sys, numpy as np, nibabel as nib, scipy.ndimage as ndi
bold, atlas = sys.argv[1], sys.argv[2]
img = nib.load(bold)
data = np.asanyarray(img.dataobj)                 # float32, whole run
a = nib.load(atlas)
lab_img = np.asanyarray(a.dataobj)
m = np.linalg.inv(a.affine) @ img.affine
shape = img.shape[:3]
ijk = np.indices(shape).reshape(3, -1).astype(np.float64)
c = np.floor(m[:3, :3] @ ijk + m[:3, 3:4] + 0.5).astype(np.int64)
ok = np.all((c >= 0) & (c < np.array(lab_img.shape)[:, None]), axis=0)
lab = np.zeros(ijk.shape[1], np.int32)
lab[ok] = lab_img[c[0, ok], c[1, ok], c[2, ok]]
lab = lab.reshape(shape)
labels = np.unique(lab_img)[1:]
ts = np.stack([ndi.mean(data[..., t], labels=lab, index=labels) for t in range(data.shape[3])])
print(ts.shape, float(np.nansum(ts)))
"""


def generate(path, nt):
    """Brain-shaped signal (ellipsoid, 0 outside) + noise, float32, gz level 6."""
    import numpy as np
    import nibabel as nib
    shape = (91, 109, 91)
    aff = np.array([[-2.0, 0, 0, 90], [0, 2.0, 0, -126], [0, 0, 2.0, -72], [0, 0, 0, 1]])
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape + (nt,))
    hdr.set_data_dtype(np.float32)
    hdr.set_sform(aff, 4)
    hdr.set_qform(aff, 4)
    hdr.set_xyzt_units("mm", "sec")
    hdr["pixdim"][4] = 2.0
    hdr["vox_offset"] = 352
    g = np.indices(shape).astype(np.float32)
    r2 = ((g[0] - 45) / 36) ** 2 + ((g[1] - 54) / 45) ** 2 + ((g[2] - 40) / 34) ** 2
    brain = r2 < 1
    rng = np.random.default_rng(0)
    base = np.where(brain, 800 + 200 * rng.random(shape, dtype=np.float32), 0).astype(np.float32)
    tmp = path + ".part"
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(hdr.binaryblock + b"\0" * 4)
        for t in range(nt):
            noise = rng.normal(0, 15, size=shape).astype(np.float32)
            vol = np.where(brain, base + noise, 0).astype(np.float32)
            f.write(vol.tobytes(order="F"))
    os.rename(tmp, path)


def measure(cmd, env=None):
    """Wall time and peak RSS via /usr/bin/time (GNU time forks the command
    from its own small process: measuring a fork of this Python process
    would count this process's pages in the child's ru_maxrss)."""
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), "bs_bench_time.%d" % os.getpid())
    full = ["/usr/bin/time", "-f", "%e %M", "-o", out] + cmd
    with open(os.devnull, "wb") as devnull:
        p = subprocess.run(full, stdout=devnull, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        sys.exit("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr.decode(errors="replace")))
    with open(out) as f:
        wall, rss_kb = f.read().split()[-2:]
    os.remove(out)
    return float(wall), float(rss_kb) / 1024.0  # GNU time %M is KiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--dir", default="/tmp/brainstage-bench-parcellate")
    ap.add_argument("--volumes", type=int, default=200)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    atlas = "/usr/share/mricron/templates/aal.nii.gz"
    os.makedirs(args.dir, exist_ok=True)
    bold = os.path.join(args.dir, "sub-sim_task-rest_space-MNI152NLin6Asym_res-2_desc-preproc_bold_%d.nii.gz"
                        % args.volumes)
    if not os.path.exists(bold):
        print("generating %s ..." % bold, flush=True)
        t0 = time.perf_counter()
        generate(bold, args.volumes)
        print("  %.1f s" % (time.perf_counter() - t0))
    raw_mb = 91 * 109 * 91 * args.volumes * 4 / 1e6
    gz_mb = os.path.getsize(bold) / 1e6
    load = os.getloadavg()
    print("input: 91x109x91x%d float32, %.0f MB raw, %.0f MB .nii.gz; atlas: AAL (mricron, 1 mm -> 2 mm)"
          % (args.volumes, raw_mb, gz_mb))
    print("load average at start: %.1f %.1f %.1f on %d CPUs%s" % (
        load[0], load[1], load[2], os.cpu_count(), "  ** TAKEN UNDER LOAD **" if load[0] > 1.5 else ""))

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    gz_t, gz_rss = measure(["gzip", "-dc", bold], env)
    bs_t, bs_rss = measure([args.run, args.module, bold, "atlas=aal", "min_coverage=0"], env)
    bs1_t, bs1_rss = measure([args.run, args.module, bold, "atlas=aal", "min_coverage=0", "prefetch=no"], env)
    peer_t, peer_rss = measure([args.python, "-c", PEER, bold, atlas], env)

    print()
    print("%-36s %9s %10s %12s" % ("", "wall s", "peak RSS", "vs gzip -dc"))
    print("%-36s %9.2f %7.0f MB %12s" % ("gzip -dc > /dev/null", gz_t, gz_rss, "1.00x"))
    print("%-36s %9.2f %7.0f MB %11.2fx" % ("brainstage atlas-label (prefetch)", bs_t, bs_rss, bs_t / gz_t))
    print("%-36s %9.2f %7.0f MB %11.2fx" % ("brainstage atlas-label (1 thread)", bs1_t, bs1_rss, bs1_t / gz_t))
    print("%-36s %9.2f %7.0f MB %11.2fx" % ("nibabel+numpy peer", peer_t, peer_rss, peer_t / gz_t))
    print()
    print("peer / brainstage: time %.2fx, RSS %.1fx" % (peer_t / bs_t, peer_rss / bs_rss))
    print("targets: brainstage <= 1.10x gzip time (%s), <= 64 MB RSS (%s)" % (
        "met" if bs_t <= 1.1 * gz_t else "NOT met", "met" if bs_rss <= 64 else "NOT met"))
    load = os.getloadavg()
    print("load average at end: %.1f %.1f %.1f" % load)


if __name__ == "__main__":
    main()
