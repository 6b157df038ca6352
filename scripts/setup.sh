#!/usr/bin/env bash
# Installs what fedcybgd needs on a fresh Debian 12 machine: Open MPI, serial HDF5 and its
# tools, OpenBLAS, pkg-config, the fortunes corpus, Slurm for the batch tests, and the Python
# packages the analysis scripts and reader tests use. Safe to run again: it skips what is there.
set -euo pipefail

debian_packages=(
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libopenblas-dev
  pkg-config
  fortunes
  slurm-wlm munge
  # The instruction data set (docs/DATA.md): dictd dictionaries, read straight from their files.
  dict-wn dict-gcide dict-freedict-eng-deu dict-freedict-eng-fra dict-freedict-eng-spa
  dict-vera dict-jargon dict-foldoc dict-elements
)
# tokenizers, safetensors, transformers: the model import/export tests (transformers runs without torch).
python_packages=(h5py numpy pytest matplotlib tokenizers safetensors transformers)

missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

pymissing=()
for p in "${python_packages[@]}"; do
  python3 -c "import $p" 2>/dev/null || pymissing+=("$p")
done
if ((${#pymissing[@]})); then
  echo "setup: pip installing ${pymissing[*]}"
  python3 -m pip install -q "${pymissing[@]}"
fi

# PyTorch's CPU-only build (about 190 MB, no CUDA): the export test loads our models with
# transformers' GPT2LMHeadModel, and docs/PERFORMANCE.md's speed comparison runs the PyTorch bench.
if ! python3 -c "import torch" 2>/dev/null; then
  echo "setup: pip installing torch (CPU-only build)"
  python3 -m pip install -q "torch==2.13.0+cpu"
fi

# The instruction data set (docs/DATA.md, data/instruct/README.md), built from the dictionaries
# and fortune's riddles; rebuilt when the builder is newer than it.
root="$(cd "$(dirname "$0")/.." && pwd)"
instruct="$root/data/instruct/instruct.jsonl"
if [ ! -s "$instruct" ] || [ "$root/scripts/make-instruct-data.py" -nt "$instruct" ]; then
  echo "setup: building $instruct"
  python3 "$root/scripts/make-instruct-data.py" --out "$instruct" >/dev/null
fi
