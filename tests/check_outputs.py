"""check_outputs.py DIR... - every file under DIR with a final name (not a
hidden temporary, ".tmp.*" or ".*") must be complete:

  .nii / .nii.gz   nibabel reads the header and every voxel (a gzip stream
                   cut short fails its length/CRC check)
  .tsv             ends with a newline; every row has the header's columns
  .json            parses
  .safetensors     8-byte length, JSON header, data section exactly as long
                   as the largest data_offsets end

Prints one line per problem and exits 1 if any; prints the count checked.
Used by tests/kill_outputs.sh after SIGKILLing writers mid-write.
"""
import json
import os
import struct
import sys

require = os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1"
try:
    import numpy as np
    import nibabel as nib
except ImportError as e:
    print("missing Python module: %s" % e)
    sys.exit(1 if require else 77)


def check_nifti(path):
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)
    if data.size != int(np.prod(img.shape)):
        raise ValueError("voxel count %d, header says %s" % (data.size, img.shape))


def check_tsv(path):
    with open(path, "rb") as f:
        text = f.read()
    if not text.endswith(b"\n"):
        raise ValueError("does not end with a newline (cut mid-row)")
    lines = text.decode().split("\n")[:-1]
    n = lines[0].count("\t") + 1
    for i, line in enumerate(lines[1:], start=2):
        if line.count("\t") + 1 != n:
            raise ValueError("row %d has %d columns, the header %d" % (i, line.count("\t") + 1, n))


def check_json(path):
    with open(path) as f:
        json.load(f)


def check_safetensors(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError("shorter than the 8-byte header length")
        (hlen,) = struct.unpack("<Q", head)
        if hlen > size - 8:
            raise ValueError("header length %d past the end (%d bytes)" % (hlen, size))
        header = json.loads(f.read(hlen))
    end = max([v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"] or [0])
    if size - 8 - hlen != end:
        raise ValueError("data section %d bytes, tensors need %d" % (size - 8 - hlen, end))


CHECKS = [(".nii.gz", check_nifti), (".nii", check_nifti), (".tsv", check_tsv), (".json", check_json),
          (".safetensors", check_safetensors)]

problems, checked = 0, 0
for top in sys.argv[1:]:
    for folder, _, files in os.walk(top):
        for name in files:
            if name.startswith("."):
                continue  # temporaries: never under a final name
            path = os.path.join(folder, name)
            for ext, check in CHECKS:
                if name.endswith(ext):
                    try:
                        check(path)
                        checked += 1
                    except Exception as e:  # any failure to read is a partial file
                        print("PARTIAL %s: %s" % (path, e))
                        problems += 1
                    break
print("%d final-named files complete, %d partial" % (checked, problems))
sys.exit(1 if problems else 0)
