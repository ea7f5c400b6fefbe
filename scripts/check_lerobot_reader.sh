#!/usr/bin/env bash
# LeRobot's own dataset reader against a LeRobotDataset written here (issue 25, docs/interop.md).
#   bash scripts/check_lerobot_reader.sh <demos.hdf5> <lerobot root> [venv dir]
# The reader (lerobot-dataset 0.4.4) needs torchvision, which fails beside the project's torch 2.13
# CPU wheel, so it runs in its own venv: torch 2.14.1 + torchvision 0.29.1 (the pair pip takes from
# this machine's disk; x86_64, ~5.5 GB), lerobot-dataset and h5py. The project env is untouched.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore
h5="$1"; root="$2"; venv="${3:-${TMPDIR:-/tmp}/vecc-lerobot-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  python -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
  "$venv/bin/pip" install -q --disable-pip-version-check lerobot-dataset==0.4.4 h5py
fi
"$venv/bin/python" "$(dirname "$0")/lerobot_reader_check.py" "$h5" "$root"
