#!/bin/sh
# install-deps.sh - install everything brainstage needs to build, test and
# benchmark on Debian 12 (bookworm) or later.  Run as root or with sudo.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# build: toolchain, autotools, libraries
# data: mricron-data (AAL, AICHA, Harvard-Oxford, Brodmann, JHU atlases + ch2)
# tests and benchmarks only (never used by brainstage at run time):
#   numpy/scipy/nibabel/nipy/sklearn/torch golden references, the nipy and
#   nibabel packages' real 4D fMRI test images; chromium renders the HTML
#   reports headless in tests/report_browser.py (DejaVu: the reports' font)
$SUDO apt-get install -y -q --no-install-recommends \
    build-essential autoconf automake libtool pkg-config make gzip time \
    libnifti2-dev libgsl-dev libopenblas-dev libjansson-dev zlib1g-dev \
    mricron-data \
    python3 python3-numpy python3-scipy python3-nibabel python3-nipy \
    python3-sklearn python3-torch \
    chromium fonts-dejavu-core
# reliability checks (tests and CI only): libFuzzer harnesses (clang with its
# fuzzer/sanitizer runtimes and OpenMP), valgrind memcheck
$SUDO apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev libomp-dev valgrind
