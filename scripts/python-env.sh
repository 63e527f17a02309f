#!/usr/bin/env bash
# Creates or refreshes the Python environment the Rust tests use (rclpy on Fast DDS,
# ROS 2 message packages, zenoh, mcap) at ${AUGUR_VENV:-.venv} from
# scripts/requirements-test.txt, then prints the interpreter's path: use it as
# AUGUR_PYTHON. A stamp of the requirements file makes a second run instant.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
requirements="$root/scripts/requirements-test.txt"
venv="${AUGUR_VENV:-$root/.venv}"
python="$venv/bin/python"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ -x "$python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$python"
  exit 0
fi

if [ ! -x "$python" ]; then
  if ! python3 -m venv "$venv" >&2; then
    # Debian ships venv's ensurepip separately.
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      echo "== installing python3-venv" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q >&2
      apt-get install -y -q --no-install-recommends python3-venv >&2
      rm -rf "$venv"
      python3 -m venv "$venv" >&2
    else
      echo "python3 -m venv failed: install python3-venv" >&2
      exit 1
    fi
  fi
fi

echo "== installing $requirements into $venv" >&2
"$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
echo "$want" >"$stamp"
echo "$python"
