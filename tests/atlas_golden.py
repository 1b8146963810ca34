"""atlas_golden.py - atlas-label / atlas-prob / atlas-grid against numpy.

The reference follows nilearn's NiftiLabelsMasker semantics: the atlas is
resampled to the BOLD grid by nearest neighbour through both affines
(voxel c = inv(A_atlas) @ A_bold @ ijk, index floor(c + 0.5)), and an ROI's
value is the mean of the BOLD voxels carrying its label (inside the mask).
Probabilistic maps: trilinear resampling (neighbours beyond the edge count
as 0), ROI value sum(w*x)/sum(w).  Grid: cube = floor(world / size).

Cases (each run through the real plugin module, dlopen'ed by
tests/atlas_run):
  1. REAL data: nipy's functional.nii.gz with a label atlas on its grid,
     with and without a brain mask (coverage, min_coverage -> NaN column
     plus a warning).
  2. REAL atlas: mricron-data's AAL (1 mm) resampled onto a synthetic 2 mm
     BOLD grid, through the `aal` descriptor (names from the table).
  3. atlas-prob on maps defined on a different grid (1.5 mm, rotated).
  4. atlas-grid with a mask.
  5. NaN voxels: skipped (nanmean semantics), warning issued.
Tolerance on ROI means: |ours - ref| <= 1e-5*|ref| + 1e-6*max|ref|.
Coverage: exact up to 1e-12.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

require = os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1"
try:
    import numpy as np
    import nibabel as nib
except ImportError as e:  # pragma: no cover
    print("skip: %s" % e)
    sys.exit(1 if require else 77)

builddir = os.environ.get("top_builddir", ".")
RUN = os.path.join(builddir, "tests", "atlas_run")
PLUGDIR = os.environ.get("BRAINSTAGE_PLUGIN_PATH", os.path.join(builddir, "plugins", ".libs")).split(":")[0]
NIPY_FUNC = "/usr/lib/python3/dist-packages/nipy/testing/functional.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
RTOL = 1e-5

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def module(kind):
    return os.path.join(PLUGDIR, "atlas_%s.so" % kind)


def run(kind, bold, *params):
    p = subprocess.run([RUN, module(kind), bold] + list(params), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def parse(out):
    lines = out.splitlines()
    res = {"tr": float(lines[0].split()[1]), "atlas": lines[1].split(" ", 1)[1]}
    res["labels"] = lines[2].split("\t")[1:]
    res["coverage"] = np.array([float(x) for x in lines[3].split("\t")[1:]])
    rows = [[float(x) for x in ln.split("\t")] for ln in lines[4:] if ln]
    res["ts"] = np.array(rows, dtype=np.float64).reshape(len(rows), len(res["labels"]))
    return res


def bold_data(path):
    img = nib.load(path)
    return img, np.asanyarray(img.dataobj).astype(np.float64)


def nearest(atlas_img, bold_img):
    """Atlas labels on the BOLD grid (nearest neighbour via world affines)."""
    a = np.asanyarray(atlas_img.dataobj)
    m = np.linalg.inv(atlas_img.affine) @ bold_img.affine
    shape = bold_img.shape[:3]
    ijk = np.indices(shape).reshape(3, -1).astype(np.float64)
    c = m[:3, :3] @ ijk + m[:3, 3:4]
    idx = np.floor(c + 0.5).astype(np.int64)
    ok = np.all((idx >= 0) & (idx < np.array(a.shape[:3])[:, None]), axis=0)
    out = np.zeros(ijk.shape[1], dtype=np.float64)
    out[ok] = a[idx[0, ok], idx[1, ok], idx[2, ok]]
    return out.reshape(shape)


def trilinear(vol, m, shape):
    ijk = np.indices(shape).reshape(3, -1).astype(np.float64)
    c = m[:3, :3] @ ijk + m[:3, 3:4]
    base = np.floor(c).astype(np.int64)
    f = c - base
    out = np.zeros(ijk.shape[1])
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                ix, iy, iz = base[0] + dx, base[1] + dy, base[2] + dz
                w = (f[0] if dx else 1 - f[0]) * (f[1] if dy else 1 - f[1]) * (f[2] if dz else 1 - f[2])
                ok = (ix >= 0) & (iy >= 0) & (iz >= 0) & (ix < vol.shape[0]) & (iy < vol.shape[1]) & (iz < vol.shape[2])
                out[ok] += w[ok] * vol[ix[ok], iy[ok], iz[ok]]
    return out.reshape(shape)


def compare(label, got, ref):
    if got.shape != ref.shape:
        fail("%s: shape %s vs reference %s" % (label, got.shape, ref.shape))
        return
    nan_ok = np.array_equal(np.isnan(got), np.isnan(ref))
    fin = ~np.isnan(ref)
    scale = np.max(np.abs(ref[fin])) if fin.any() else 1.0
    err = np.abs(got[fin] - ref[fin])
    tol = RTOL * np.abs(ref[fin]) + 1e-6 * scale
    if not nan_ok or (err > tol).any():
        worst = float(np.max(err / (np.abs(ref[fin]) + 1e-30))) if fin.any() else 0.0
        fail("%s: NaN pattern equal=%s, %d values beyond tolerance (max rel %.3g)"
             % (label, nan_ok, int((err > tol).sum()), worst))
    else:
        rel = float(np.max(err / np.maximum(np.abs(ref[fin]), 1e-30))) if fin.any() else 0.0
        print("ok   %-52s T=%d R=%d max rel err %.2e" % (label, ref.shape[0], ref.shape[1], rel))


def label_reference(data, lab, labels, mask=None, min_cov=0.5):
    """ROI means + coverage (XCP-D: in-mask parcel voxels / parcel voxels)."""
    T = data.shape[3]
    flat = data.reshape(-1, T)
    labf = lab.ravel()
    inm = np.ones(labf.shape, bool) if mask is None else mask.ravel() > 0
    ts = np.full((T, len(labels)), np.nan)
    cov = np.zeros(len(labels))
    for r, l in enumerate(labels):
        sel = labf == l
        n_all = sel.sum()
        use = sel & inm
        cov[r] = use.sum() / n_all if n_all else 0.0
        if use.any() and cov[r] >= min_cov:
            with warnings.catch_warnings():  # all-NaN time points -> NaN, silently
                warnings.simplefilter("ignore", RuntimeWarning)
                ts[:, r] = np.nanmean(flat[use], axis=0)
    return ts, cov


def check_coverage(label, got, ref):
    if got.shape != ref.shape or np.max(np.abs(got - ref)) > 1e-12:
        fail("%s: coverage %s vs %s" % (label, got, ref))


def case_functional(tmp):
    img, data = bold_data(NIPY_FUNC)
    shape = img.shape[:3]
    rng = np.random.default_rng(3)
    # Blocky labels 1..6 plus background, on the BOLD grid.
    lab = np.zeros(shape, np.int16)
    lab[2:8, 3:10, :] = 1
    lab[9:16, 3:10, :] = 2
    lab[2:8, 11:19, 0:2] = 3
    lab[9:16, 11:19, 1:3] = 4
    lab[0:3, 0:3, :] = 5          # corner: mostly outside the mask below
    lab[rng.random(shape) < 0.05] = 6
    atlas = os.path.join(tmp, "func_atlas.nii.gz")
    nib.Nifti1Image(lab, img.affine).to_filename(atlas)
    labels = [1, 2, 3, 4, 5, 6]
    rc, out, err = run("label", NIPY_FUNC, "atlas=" + atlas, "min_coverage=0")
    if rc:
        fail("functional, no mask: rc=%d %s" % (rc, err.strip()))
        return
    res = parse(out)
    ref, cov = label_reference(data, lab, labels, None, 0.0)
    compare("atlas-label nipy functional.nii.gz (no mask)", res["ts"], ref)
    check_coverage("functional no mask", res["coverage"], cov)
    if res["labels"] != [str(x) for x in labels] or abs(res["tr"] - 2.0) > 1e-9:
        fail("functional: labels %s tr %g" % (res["labels"], res["tr"]))
    # Mask from the mean image; label 5 sits in a corner mostly outside.
    mean = data.mean(axis=3)
    mask = (mean > np.percentile(mean, 40)).astype(np.uint8)
    mask[0:3, 0:3, :] = 0
    mask[0, 0, :] = 1  # a little coverage for label 5 (3/27 < 0.5)
    mpath = os.path.join(tmp, "func_mask.nii.gz")
    nib.Nifti1Image(mask, img.affine).to_filename(mpath)
    rc, out, err = run("label", NIPY_FUNC, "atlas=" + atlas, "mask=" + mpath)
    if rc:
        fail("functional, mask: rc=%d %s" % (rc, err.strip()))
        return
    res = parse(out)
    ref, cov = label_reference(data, lab, labels, mask, 0.5)
    compare("atlas-label nipy functional.nii.gz (mask, min_cov 0.5)", res["ts"], ref)
    check_coverage("functional mask", res["coverage"], cov)
    if not np.isnan(res["ts"][:, 4]).all() or "min_coverage" not in err:
        fail("label 5 (coverage %.3f) should be a NaN column with a warning; stderr: %s" % (cov[4], err))
    else:
        print("ok   low-coverage ROI is a NaN column, warned: %s" % err.strip().splitlines()[0][:110])
    # prefetch off gives identical numbers
    rc2, out2, _ = run("label", NIPY_FUNC, "atlas=" + atlas, "mask=" + mpath, "prefetch=no")
    if rc2 or out2 != out:
        fail("prefetch=no output differs from prefetch=yes")


def case_aal(tmp):
    if not os.path.exists(AAL):
        if require:
            fail("missing " + AAL)
        return
    rng = np.random.default_rng(11)
    # Synthetic 2 mm grid, RAS with flipped x like MNI; offsets keep voxel
    # centres off the atlas's half-voxel boundaries (no rounding ties).
    aff = np.array([[-2.0, 0, 0, 78.3], [0, 2.0, 0, -112.7], [0, 0, 2.0, -50.7], [0, 0, 0, 1]])
    shape = (78, 94, 66, 6)
    base = rng.normal(1000, 50, size=shape[:3])
    data = (base[..., None] + rng.normal(0, 10, size=shape)).astype(np.float32)
    bold = os.path.join(tmp, "sub-01_task-rest_space-MNI_desc-preproc_bold.nii")
    img = nib.Nifti1Image(data, aff)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 0.8
    img.to_filename(bold)
    img = nib.load(bold)
    atlas_img = nib.load(AAL)
    lab = nearest(atlas_img, img)
    table = [ln.rstrip("\n").split("\t") for ln in open(os.path.join(
        os.environ.get("top_srcdir", "."), "atlases", "aal_dseg.tsv"))][1:]
    labels = [int(i) for i, _ in table]
    names = [n for _, n in table]
    rc, out, err = run("label", bold, "atlas=aal", "min_coverage=0")
    if rc:
        fail("aal: rc=%d %s" % (rc, err.strip()))
        return
    res = parse(out)
    ref, cov = label_reference(data.astype(np.float64), lab, labels, None, 0.0)
    compare("atlas-label AAL (mricron) on a synthetic 2 mm grid", res["ts"], ref)
    check_coverage("aal", res["coverage"], cov)
    if res["labels"] != names or res["atlas"] != "AAL" or abs(res["tr"] - 0.8) > 1e-6:
        fail("aal: names/atlas/tr differ: %s %s %g" % (res["labels"][:3], res["atlas"], res["tr"]))
    # mask=auto finds the fMRIPrep-named mask next to the BOLD.
    mask = (np.abs(np.indices(shape[:3])[0] - 39) < 30).astype(np.uint8)
    nib.Nifti1Image(mask, aff).to_filename(bold.replace("_desc-preproc_bold.nii", "_desc-brain_mask.nii"))
    rc, out, err = run("label", bold, "atlas=aal", "mask=auto")
    if rc:
        fail("aal mask=auto: rc=%d %s" % (rc, err.strip()))
        return
    res = parse(out)
    ref, cov = label_reference(data.astype(np.float64), lab, labels, mask, 0.5)
    compare("atlas-label AAL, mask=auto (fMRIPrep brain mask)", res["ts"], ref)
    check_coverage("aal mask", res["coverage"], cov)
    return bold, img, data


def case_prob(tmp, bold, img, data):
    rng = np.random.default_rng(5)
    th = 0.2
    rot = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]]) * 1.5
    aff = np.eye(4)
    aff[:3, :3] = rot
    aff[:3, 3] = [-40.0, -90.0, -40.0]
    shape = (60, 70, 50)
    g = np.indices(shape).astype(np.float64)
    maps = []
    for k in range(4):
        c = rng.uniform([10, 10, 10], [50, 60, 40])
        d2 = sum((g[a] - c[a]) ** 2 for a in range(3))
        maps.append(np.exp(-d2 / (2 * 6.0 ** 2)))
    maps = np.stack(maps, axis=-1).astype(np.float32)
    maps[maps < 0.05] = 0
    path = os.path.join(tmp, "prob.nii.gz")
    nib.Nifti1Image(maps, aff).to_filename(path)
    m = np.linalg.inv(aff) @ img.affine
    flat = data.reshape(-1, data.shape[3]).astype(np.float64)
    ref = np.zeros((data.shape[3], 4))
    for k in range(4):
        w = trilinear(maps[..., k].astype(np.float64), m, img.shape[:3]).ravel()
        w[w <= 0] = 0
        ref[:, k] = (w[:, None] * flat).sum(axis=0) / w.sum()
    rc, out, err = run("prob", bold, "atlas=" + path, "min_coverage=0")
    if rc:
        fail("prob: rc=%d %s" % (rc, err.strip()))
        return
    compare("atlas-prob, 4 maps on a rotated 1.5 mm grid", parse(out)["ts"], ref)


def case_grid(tmp, bold, img, data):
    size = 12.0
    mask = nib.load(bold.replace("_desc-preproc_bold.nii", "_desc-brain_mask.nii")).get_fdata() > 0
    shape = img.shape[:3]
    ijk = np.indices(shape).reshape(3, -1).astype(np.float64)
    world = img.affine[:3, :3] @ ijk + img.affine[:3, 3:4]
    cell = np.floor(world / size).astype(np.int64)
    lo = cell.min(axis=1, keepdims=True)
    c = cell - lo
    nc = c.max(axis=1) + 1
    cid = c[0] + nc[0] * (c[1] + nc[1] * c[2])
    inm = mask.ravel()
    ids = np.unique(cid[inm])
    flat = data.reshape(-1, data.shape[3]).astype(np.float64)
    n_all = np.bincount(cid, minlength=ids.max() + 1)[ids]
    n_in = np.bincount(cid[inm], minlength=ids.max() + 1)[ids]
    cov = n_in / n_all
    ref = np.stack([np.bincount(cid[inm], weights=flat[inm, t], minlength=ids.max() + 1)[ids] / n_in
                    for t in range(data.shape[3])])
    ref[:, cov < 0.5] = np.nan
    rc, out, err = run("grid", bold, "size=12", "mask=auto")
    if rc:
        fail("grid: rc=%d %s" % (rc, err.strip()))
        return
    res = parse(out)
    compare("atlas-grid 12 mm cubes inside the mask", res["ts"], ref)
    check_coverage("grid", res["coverage"], cov)


def case_nan(tmp):
    img, data = bold_data(NIPY_FUNC)
    shape = img.shape[:3]
    lab = np.zeros(shape, np.int16)
    lab[2:8, 3:10, :] = 1
    lab[9:16, 3:10, :] = 2
    lab[0, 0, 0] = 3               # one voxel, NaN in volume 4
    data = data.astype(np.float32)
    data[3, 4, 1, 2] = np.nan      # ROI 1, volume 2
    data[10:16, 3:10, :, 7] = np.nan  # ROI 2 entirely NaN in volume 7 ... almost
    data[9, 3:10, :, 7] = np.nan
    data[0, 0, 0, 4] = np.nan
    bold = os.path.join(tmp, "nan_bold.nii.gz")
    nib.Nifti1Image(data, img.affine).to_filename(bold)
    atlas = os.path.join(tmp, "nan_atlas.nii.gz")
    nib.Nifti1Image(lab, img.affine).to_filename(atlas)
    rc, out, err = run("label", bold, "atlas=" + atlas, "min_coverage=0")
    if rc:
        fail("nan: rc=%d %s" % (rc, err.strip()))
        return
    ref, _ = label_reference(data.astype(np.float64), lab, [1, 2, 3], None, 0.0)
    compare("NaN voxels skipped (nanmean), all-NaN -> NaN", parse(out)["ts"], ref)
    if "NaN voxel values" not in err:
        fail("NaN voxels: expected a warning, stderr: %s" % err)


def expect_error(label, code, needles, *args):
    rc, out, err = run(*args)
    if rc != code or not all(n in err for n in needles):
        fail("%s: expected status %d and %s in the message; got rc=%d %s" % (label, code, needles, rc, err.strip()))
    else:
        print("ok   %-30s %s" % (label, err.strip().splitlines()[-1][:130]))


def case_bad(tmp):
    img = nib.load(NIPY_FUNC)
    shape = img.shape[:3]
    lab = np.zeros(shape, np.int16)
    lab[2:8, 3:10, :] = 1
    far = img.affine.copy()
    far[:3, 3] += 10000.0
    p = os.path.join(tmp, "far.nii.gz")
    nib.Nifti1Image(lab, far).to_filename(p)
    expect_error("no overlap", 10, ["do not overlap", p], "label", NIPY_FUNC, "atlas=" + p)
    p = os.path.join(tmp, "zeros.nii.gz")
    nib.Nifti1Image(np.zeros(shape, np.int16), img.affine).to_filename(p)
    expect_error("zero labels", 10, ["no labels", p], "label", NIPY_FUNC, "atlas=" + p)
    p = os.path.join(tmp, "frac.nii.gz")
    nib.Nifti1Image(np.full(shape, 0.5, np.float32), img.affine).to_filename(p)
    expect_error("non-integer labels", 10, ["integer labels", p], "label", NIPY_FUNC, "atlas=" + p)
    p = os.path.join(tmp, "zeros4d.nii.gz")
    nib.Nifti1Image(np.zeros(shape + (2,), np.float32), img.affine).to_filename(p)
    expect_error("prob: all maps empty", 10, ["no weights", p], "prob", NIPY_FUNC, "atlas=" + p)
    m = os.path.join(tmp, "badmask.nii.gz")
    nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), img.affine).to_filename(m)
    expect_error("mask on another grid", 10, ["mask grid", m], "label", NIPY_FUNC, "atlas=aal", "mask=" + m)
    expect_error("unknown atlas name", 2, ["atlas 'aall'", "known: aal"], "label", NIPY_FUNC, "atlas=aall")
    expect_error("mask=auto without a mask", 3, ["mask=auto", "no fMRIPrep brain mask"],
                 "label", NIPY_FUNC, "atlas=aal", "mask=auto")


def main():
    for path in (RUN, NIPY_FUNC, module("label")):
        if not os.path.exists(path):
            print("missing %s" % path)
            return 1 if (require or path != NIPY_FUNC) else 77
    tmp = tempfile.mkdtemp(prefix="bs_atlas_golden_")
    try:
        case_functional(tmp)
        res = case_aal(tmp)
        if res:
            case_prob(tmp, *res)
            case_grid(tmp, *res)
        case_nan(tmp)
        case_bad(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
