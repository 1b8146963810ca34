"""soak.py - leak-free streaming over a long participant level.

Writes an fMRIPrep-shaped dataset of N subjects (default 60; small volumes:
24 x 28 x 24 voxels of 6 mm, 80 volumes, int16, with brain mask, 36P
confounds and JSON sidecar; every subject's data differ), then runs
`brainstage bids DATA OUT participant --pipeline fc --atlas aal` (one
process works through all subjects in turn) and samples that process's
VmRSS and VmHWM from /proc/<pid>/status every 20 ms (resetting VmHWM after
each read, so it is the exact peak in between), attributing each sample to
the subject in progress (the process prints one line per
finished subject).

Criterion (no growth): the peak RSS over the last 10 subjects must not
exceed the peak over subjects 6-15 (after the first subjects, whose
allocations include one-time caches) by more than max(3 %, 2 MiB), and the
Theil-Sen slopes of the per-subject peak and baseline (least) RSS over
subjects 6..N must stay below 16 KiB per subject: a leak of one (tiny,
32 KiB) float32 BOLD volume per subject fails.  glibc is run with fixed
mmap/trim thresholds so freed blocks go back to the system (see below).  Prints the
per-subject figures; exit 1 on failure, 77 without numpy/nibabel unless
BRAINSTAGE_REQUIRE_PYTHON=1.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

require = os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1"
try:
    import numpy as np
    import nibabel as nib
except ImportError as e:
    print("missing Python module: %s" % e)
    sys.exit(1 if require else 77)

BS = os.environ.get("BRAINSTAGE", "./brainstage")
N = int(os.environ.get("SOAK_SUBJECTS", "60"))
T = 80
SHAPE = (24, 28, 24)


def make_dataset(root):
    rng = np.random.default_rng(11)
    aff = np.diag([6.0, 6.0, 6.0, 1.0])
    aff[:3, 3] = [-72, -102, -54]
    ii, jj, kk = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
    brain = (ii ** 2 + jj ** 2 + kk ** 2) < 0.8
    motion = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    cols = []
    for base in motion + ["csf", "white_matter", "global_signal"]:
        cols += [base, base + "_derivative1", base + "_power2", base + "_derivative1_power2"]
    cols.append("framewise_displacement")
    os.makedirs(root)
    with open(os.path.join(root, "dataset_description.json"), "w") as f:
        json.dump({"Name": "soak", "BIDSVersion": "1.8.0", "DatasetType": "derivative"}, f)
    for s in range(1, N + 1):
        d = os.path.join(root, "sub-%03d" % s, "func")
        os.makedirs(d)
        stem = os.path.join(d, "sub-%03d_task-rest" % s)
        space = stem + "_space-MNI152NLin2009cAsym_res-2"
        net = rng.standard_normal((T, 4))
        data = 1000 + 20 * rng.standard_normal(SHAPE + (T,))
        data += 10 * net[:, (ii > 0).astype(int) + 2 * (jj > 0).astype(int)].transpose(1, 2, 3, 0)
        data[~brain] = 0
        img = nib.Nifti1Image(data.astype(np.int16), aff)
        img.header.set_xyzt_units("mm", "sec")
        img.header["pixdim"][4] = 2.0
        img.set_sform(aff, code=4)
        img.set_qform(aff, code=4)
        nib.save(img, space + "_desc-preproc_bold.nii.gz")
        nib.save(nib.Nifti1Image(brain.astype(np.uint8), aff), space + "_desc-brain_mask.nii.gz")
        with open(space + "_desc-preproc_bold.json", "w") as f:
            json.dump({"RepetitionTime": 2.0, "TaskName": "rest"}, f)
        vals = 0.05 * rng.standard_normal((T, len(cols)))
        vals[:, -1] = np.abs(vals[:, -1])
        with open(stem + "_desc-confounds_timeseries.tsv", "w") as f:
            f.write("\t".join(cols) + "\n")
            for t in range(T):
                cells = ["%.5g" % v for v in vals[t]]
                if t == 0:
                    cells = ["n/a" if ("derivative" in c or c == "framewise_displacement") else x
                             for c, x in zip(cols, cells)]
                f.write("\t".join(cells) + "\n")


def status_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


def reset_hwm(pid):
    """Reset the process's VmHWM; False where the kernel or permissions refuse."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def robust_slope(x, y):
    """Theil-Sen estimator (median of the pairwise slopes): a steady leak moves
    every point and shows, one odd subject does not tilt it as it tilts least
    squares."""
    i, j = np.triu_indices(len(x), 1)
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))


def instrumented():
    """AddressSanitizer's quarantine and shadow memory dominate RSS; there
    LeakSanitizer checks leaks instead, so the soak is skipped."""
    real = os.path.join(os.path.dirname(BS), ".libs", os.path.basename(BS))
    try:
        out = subprocess.run(["ldd", real if os.path.exists(real) else BS], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "libasan" in out


def main():
    if instrumented():
        print("brainstage is built with AddressSanitizer: RSS measures its quarantine, not leaks (LSan covers those)")
        return 77
    with tempfile.TemporaryDirectory(prefix="bs-soak-") as tmp:
        data, out = os.path.join(tmp, "fmriprep"), os.path.join(tmp, "out")
        t0 = time.time()
        make_dataset(data)
        print("dataset: %d subjects, %s voxels x %d volumes, written in %.1f s" % (N, SHAPE, T, time.time() - t0))
        # stdbuf -oL: line-buffered stdout, so each "sub-..." line arrives when
        # that subject is done (stdbuf execs brainstage: same pid to sample)
        cmd = ["stdbuf", "-oL", BS, "--threads", "2", "bids", data, out, "participant", "--pipeline", "fc",
               "--atlas", "aal"]
        t0 = time.time()
        # glibc keeps freed heap memory for reuse (per thread arena, and a
        # dynamic mmap threshold that grows after large frees), so plain RSS
        # tracks fragmentation more than leaks.  Fixed thresholds make every
        # block of 64 KiB or more an mmap that is unmapped on free: RSS then
        # returns to the live-data baseline after each subject.
        env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=131072")
        if os.environ.get("SOAK_PLAIN_MALLOC") == "1":
            env.pop("GLIBC_TUNABLES")
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        done = [0]
        errors = []

        def read_stdout():
            for line in p.stdout:
                # "sub-X: RUN -> DIR" per finished run (report lines follow at the end)
                if line.startswith("sub-") and " -> " in line:
                    done[0] += 1

        def read_stderr():
            for line in p.stderr:
                if "warning" not in line:
                    errors.append(line.rstrip())

        threads = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
        for th in threads:
            th.start()
        peak = {}  # subject index in progress (1-based) -> max RSS seen
        low = {}   # ... and the least VmRSS (the baseline between allocations)
        hwm = 0
        # A VmRSS sample every 20 ms misses short peaks (the CI log once had
        # a subject at 36 MiB among 43 MiB ones, and those dips tilted the
        # slope).  Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so
        # VmHWM read at each poll is the exact peak since the previous one.
        exact = reset_hwm(p.pid)
        while p.poll() is None:
            try:
                st = status_kib(p.pid)
            except (OSError, ValueError):
                break
            cur = done[0] + 1
            if "VmRSS" in st:
                top = st["VmRSS"]
                if exact and "VmHWM" in st:
                    top = max(top, st["VmHWM"])
                    exact = reset_hwm(p.pid)
                peak[cur] = max(peak.get(cur, 0), top)
                low[cur] = min(low.get(cur, st["VmRSS"]), st["VmRSS"])
                hwm = max(hwm, top)
            time.sleep(0.02)
        p.wait()
        for th in threads:
            th.join()
        secs = time.time() - t0
        print("participant level: exit %d, %d subjects in %.1f s (%.2f s each), VmHWM %.1f MiB"
              % (p.returncode, done[0], secs, secs / max(done[0], 1), hwm / 1024))
        fails = []
        if p.returncode != 0 or done[0] != N:
            fails.append("participant level failed (exit %d, %d of %d subjects): %s"
                         % (p.returncode, done[0], N, " | ".join(errors[-3:])))
        subjects = [s for s in range(1, N + 1) if s in peak]
        if len(subjects) < N - 2:
            fails.append("only %d subjects were sampled (too fast to sample?)" % len(subjects))
        else:
            for s in subjects:
                print("  subject %3d: VmRSS %.2f .. %.2f MiB" % (s, low[s] / 1024, peak[s] / 1024))
            early = max(peak[s] for s in subjects if 6 <= s <= 15)
            late = max(peak[s] for s in subjects if s > N - 10)
            allowed = max(0.03 * early, 2048)
            x = np.array([s for s in subjects if s >= 6], float)
            slopes = [robust_slope(x, np.array([m[s] for s in subjects if s >= 6], float)) for m in (peak, low)]
            print("peak RSS (%s): subjects 6-15 %.2f MiB, last 10 %.2f MiB (limit +%.2f MiB); Theil-Sen slope "
                  "of the peak %.2f, of the baseline %.2f KiB/subject (limit 16)"
                  % ("VmHWM reset per poll" if exact else "VmRSS samples", early / 1024, late / 1024,
                     allowed / 1024, slopes[0], slopes[1]))
            if late > early + allowed:
                fails.append("RSS grew: %.2f MiB -> %.2f MiB" % (early / 1024, late / 1024))
            for what, slope in zip(("peak", "baseline"), slopes):
                if slope > 16:
                    fails.append("%s RSS grows by %.1f KiB per subject" % (what, slope))
        for f in fails:
            print("FAIL: " + f)
        return 1 if fails else 0


sys.exit(main())
