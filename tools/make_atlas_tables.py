#!/usr/bin/env python3
"""make_atlas_tables.py - writes atlases/<name>_dseg.tsv label tables (BIDS
dseg.tsv style: columns index, name) for the atlases Debian's mricron-data
installs.  Run once by a maintainer; the .tsv files are committed.

    /usr/bin/python3 tools/make_atlas_tables.py [TEMPLATES_DIR] [OUT_DIR]

Sources:
  aal, aicha, jhu: the package's <image>.nii.txt files ("value name ..."
      per line, CRLF line ends; a 0/background row is dropped).
  brodmann: the package ships only a colour table, so names are
      "Brodmann_area_<value>" for each value present in the image.
  harvardoxford: the package ships no names; the 48 cortical structure
      names of the Harvard-Oxford cortical atlas (as distributed with FSL,
      index = value in the maxprob image) are listed below.
Every table is checked against the image: each label present in the image
must have a row, and each row's index must occur in the image.
"""
import gzip
import os
import struct
import sys

HARVARD_OXFORD_CORTICAL = [
    "Frontal Pole", "Insular Cortex", "Superior Frontal Gyrus", "Middle Frontal Gyrus",
    "Inferior Frontal Gyrus, pars triangularis", "Inferior Frontal Gyrus, pars opercularis",
    "Precentral Gyrus", "Temporal Pole", "Superior Temporal Gyrus, anterior division",
    "Superior Temporal Gyrus, posterior division", "Middle Temporal Gyrus, anterior division",
    "Middle Temporal Gyrus, posterior division", "Middle Temporal Gyrus, temporooccipital part",
    "Inferior Temporal Gyrus, anterior division", "Inferior Temporal Gyrus, posterior division",
    "Inferior Temporal Gyrus, temporooccipital part", "Postcentral Gyrus",
    "Superior Parietal Lobule", "Supramarginal Gyrus, anterior division",
    "Supramarginal Gyrus, posterior division", "Angular Gyrus",
    "Lateral Occipital Cortex, superior division", "Lateral Occipital Cortex, inferior division",
    "Intracalcarine Cortex", "Frontal Medial Cortex",
    "Juxtapositional Lobule Cortex (formerly Supplementary Motor Cortex)", "Subcallosal Cortex",
    "Paracingulate Gyrus", "Cingulate Gyrus, anterior division",
    "Cingulate Gyrus, posterior division", "Precuneous Cortex", "Cuneal Cortex",
    "Frontal Orbital Cortex", "Parahippocampal Gyrus, anterior division",
    "Parahippocampal Gyrus, posterior division", "Lingual Gyrus",
    "Temporal Fusiform Cortex, anterior division", "Temporal Fusiform Cortex, posterior division",
    "Temporal Occipital Fusiform Cortex", "Occipital Fusiform Gyrus", "Frontal Operculum Cortex",
    "Central Opercular Cortex", "Parietal Operculum Cortex", "Planum Polare",
    "Heschl's Gyrus (includes H1 and H2)", "Planum Temporale", "Supracalcarine Cortex",
    "Occipital Pole",
]


def image_labels(path):
    """Distinct values of a uint8 NIfTI-1 image (tiny reader: no numpy needed)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    endian = "<" if struct.unpack("<i", data[:4])[0] == 348 else ">"
    dtype = struct.unpack(endian + "h", data[70:72])[0]
    if dtype != 2:
        raise SystemExit("%s: expected uint8 labels, datatype %d" % (path, dtype))
    offset = int(struct.unpack(endian + "f", data[108:112])[0])
    return sorted(set(data[offset:]) - {0})


def read_txt(path):
    rows = []
    with open(path, encoding="latin-1") as f:
        for line in f:
            parts = line.replace("\t", " ").split()
            if len(parts) >= 2 and parts[0].isdigit() and int(parts[0]) > 0:
                rows.append((int(parts[0]), parts[1]))
    return rows


def write_table(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("index\tname\n")
        for index, name in rows:
            f.write("%d\t%s\n" % (index, name))


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/mricron/templates"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "atlases")
    jobs = [
        ("aal", "aal.nii.gz", lambda: read_txt(os.path.join(src, "aal.nii.txt"))),
        ("aicha", "AICHAmc.nii.gz", lambda: read_txt(os.path.join(src, "AICHAmc.nii.txt"))),
        ("jhu", "JHU-WhiteMatter-labels-1mm.nii.gz",
         lambda: read_txt(os.path.join(src, "JHU-WhiteMatter-labels-1mm.nii.txt"))),
        ("jhu2mm", "JHU-WhiteMatter-labels-2mm.nii.gz",
         lambda: read_txt(os.path.join(src, "JHU-WhiteMatter-labels-2mm.nii.txt"))),
        ("harvardoxford", "HarvardOxford-cort-maxprob-thr0-1mm.nii.gz",
         lambda: [(i + 1, n) for i, n in enumerate(HARVARD_OXFORD_CORTICAL)]),
        ("brodmann", "brodmann.nii.gz",
         lambda: [(v, "Brodmann_area_%d" % v) for v in image_labels(os.path.join(src, "brodmann.nii.gz"))]),
    ]
    for name, image, rows_of in jobs:
        rows = rows_of()
        present = set(image_labels(os.path.join(src, image)))
        listed = {i for i, _ in rows}
        if present - listed or listed - present:
            raise SystemExit("%s: image labels without a row %s, rows not in the image %s"
                             % (name, sorted(present - listed), sorted(listed - present)))
        write_table(os.path.join(out, "%s_dseg.tsv" % name), rows)
        print("%-14s %3d labels <- %s" % (name, len(rows), image))


if __name__ == "__main__":
    main()
