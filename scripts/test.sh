#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Debian packages
# for the aarch64 cross-build and qemu, the Rust target), then runs every test on
# this machine and the model-runtime and planner tests for aarch64 under qemu.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null || need_apt+=(qemu-user-static)
# DDS Security: RustDDS links the system OpenSSL; the keystore tests use its CLI.
command -v openssl >/dev/null || need_apt+=(openssl)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev pkg-config)
# The real-time and unit-file tests: setpriv/prlimit (util-linux), systemd-analyze.
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

echo "== Python test environment (rclpy, ROS 2 messages, zenoh, mcap)"
AUGUR_PYTHON="$(scripts/python-env.sh)"
export AUGUR_PYTHON
# rclpy side of the interop tests: Fast DDS discovery stays on this machine, and rcl
# needs a writable log directory even without HOME.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_LOG_DIR="${ROS_LOG_DIR:-${TMPDIR:-/tmp}/augur-ros-log}"

echo "== tests (host: $(uname -m))"
cargo test --workspace --locked

echo "== model runtime and planner tests for aarch64-unknown-linux-gnu under qemu"
cargo test --locked --target aarch64-unknown-linux-gnu -p augur-runtime -p augur-planner
