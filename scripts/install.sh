#!/usr/bin/env bash
# Installs what VLA-ECC Lab needs on a fresh Debian/Ubuntu machine, then the package itself (editable,
# with the vecc-* console scripts).
#   bash scripts/install.sh          # run dependencies
#   bash scripts/install.sh --test   # plus test/lint tools and the sweep launchers
# System packages: EGL/Mesa for headless MuJoCo rendering, iproute2 for network namespaces, ffmpeg for videos.
# Python: torch is pinned to the 2.13.0 CPU wheel first, so no other requirement can pull a CUDA build.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore
cd "$(dirname "$0")/.."

extras="sweep"
if [[ "${1:-}" == "--test" ]]; then extras="test,sweep"; fi

missing=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libEGL.so.1 ' || missing+=(libegl1)
have_lib 'libGL.so.1 ' || missing+=(libgl1)
have_lib 'libEGL_mesa.so.0 ' || missing+=(libegl-mesa0 libgl1-mesa-dri)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v git >/dev/null 2>&1 || missing+=(git)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "[install] apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "[install] WARNING: missing system packages (${missing[*]}); install them as root" >&2
  fi
fi

python -m pip install -q --disable-pip-version-check "torch==2.13.0"
python -m pip install -q --disable-pip-version-check -e ".[${extras}]"
if [[ "${1:-}" == "--test" ]]; then
  # openpi's own client, for the protocol tests; --no-deps because 0.1.2 declares numpy<2, which the
  # resolver would otherwise keep holding the whole environment to. Its other needs (dm-tree, msgpack, pillow, websockets)
  # come with the test extra and the run dependencies.
  python -m pip install -q --disable-pip-version-check --no-deps "openpi-client==0.1.2"
fi
echo "[install] done: $(python -c 'import torch, mujoco, robosuite; print(f"torch {torch.__version__}, mujoco {mujoco.__version__}, robosuite {robosuite.__version__}")' 2>/dev/null | tail -1)"
# The editable install puts the console scripts on PATH (pyproject [project.scripts]).
echo "[install] commands: vecc-run vecc-train vecc-table vecc-study vecc-bench vecc-tool vecc-serve (each --help);"
echo "[install] tab completion: eval \"\$(vecc-run -sc install=bash)\"  (likewise for vecc-table, vecc-study, ...)"
