#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds the release binary the end-to-end
# tests run under mpirun, runs the Swift tests, then the Python (h5py) reader tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== building the release binary"
swift build -c release --product fedcybgd
export FEDCYBGD_BIN="$PWD/.build/release/fedcybgd"
echo "== swift test"
swift test
echo "== pytest (h5py readers of real run files)"
python3 -m pytest -q Tests/python
