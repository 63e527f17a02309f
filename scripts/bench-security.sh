#!/usr/bin/env bash
# Cost of zenoh security, in one run (docs/benchmarks.md, "Security"): the pendulum
# node (--trigger observation) over plain TCP, over mutual TLS, and over mutual TLS
# with the access control of docs/security.md; an eclipse-zenoh client in lock step
# (state out, wait for the command, next) measures each round trip. All on loopback.
# Usage: scripts/bench-security.sh [STATES] (default 1000 per transport).
set -euo pipefail
cd "$(dirname "$0")/.."
states="${1:-1000}"
augur="${AUGUR:-target/release/augur}"
[ -x "$augur" ] || cargo build --release --bin augur
python="${AUGUR_PYTHON:-$(scripts/python-env.sh)}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

# Certificates (openssl CLI, EC P-256), as docs/security.md makes them.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=bench-ca" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
for cn in augur plant; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$dir/$cn.key" -out "$dir/$cn.csr" 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n" >"$dir/ext"
  openssl x509 -req -in "$dir/$cn.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 1 -extfile "$dir/ext" -out "$dir/$cn.pem" 2>/dev/null
done
tls='"tls": {"root_ca_certificate": "'$dir/ca.pem'", "listen_certificate": "'$dir/augur.pem'",
  "listen_private_key": "'$dir/augur.key'", "enable_mtls": true}'
echo '{"transport": {"link": {'"$tls"'}}}' >"$dir/tls.json5"
cat >"$dir/acl.json5" <<JSON
{"transport": {"link": {$tls}},
 "access_control": {"enabled": true, "default_permission": "deny",
  "rules": [
   {"id": "in", "permission": "allow", "flows": ["ingress"], "messages": ["put"], "key_exprs": ["*/joint_states/**"]},
   {"id": "sub", "permission": "allow", "flows": ["egress"], "messages": ["declare_subscriber"], "key_exprs": ["*/joint_states/**"]},
   {"id": "out-sub", "permission": "allow", "flows": ["ingress"], "messages": ["declare_subscriber"], "key_exprs": ["*/effort_controller/commands/**", "*/diagnostics/**"]},
   {"id": "out", "permission": "allow", "flows": ["egress"], "messages": ["put"], "key_exprs": ["*/effort_controller/commands/**", "*/diagnostics/**"]},
   {"id": "graph", "permission": "allow", "messages": ["liveliness_token", "declare_liveliness_subscriber", "liveliness_query", "reply"], "key_exprs": ["@ros2_lv/**"]}],
  "subjects": [{"id": "plant", "cert_common_names": ["plant"]}],
  "policies": [{"rules": ["in", "sub", "out-sub", "out", "graph"], "subjects": ["plant"]}]}}
JSON

run() {  # name, node endpoint, client endpoint, config file or ""
  local name="$1" listen="$2" connect="$3" config="$4"
  local params=(-p diagnostics_period:=1.0)
  [ -n "$config" ] && params+=(-p "zenoh.config:=$config")
  RUST_LOG=error "$augur" run --model models/pendulum --trigger observation --transport zenoh \
    --zenoh-listen "$listen" --ros-args "${params[@]}" >/dev/null &
  local node=$!
  sleep 2
  local tls_args=()
  [ -n "$config" ] && tls_args=(--ca "$dir/ca.pem" --cert "$dir/plant.pem" --key "$dir/plant.key")
  "$python" bridge-ros2/tests/py/zenoh_secure_peer.py "$name" --connect "$connect" \
    "${tls_args[@]}" --count "$states" --lockstep >"$dir/$name.json"
  kill -INT "$node"; wait "$node" || true
}
port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p=$(port); run tcp "tcp/127.0.0.1:$p" "tcp/127.0.0.1:$p" ""
p=$(port); run tls "tls/127.0.0.1:$p" "tls/localhost:$p" "$dir/tls.json5"
p=$(port); run tls+acl "tls/127.0.0.1:$p" "tls/localhost:$p" "$dir/acl.json5"

"$python" - "$dir" <<'PY'
import json, sys, numpy as np
base = None
print(f"{'transport':10} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99 / tcp':>10}")
for name in ["tcp", "tls", "tls+acl"]:
    r = np.array(json.load(open(f"{sys.argv[1]}/{name}.json"))["round_trips_ms"])
    p50, p99 = np.percentile(r, 50), np.percentile(r, 99)
    base = base or p99
    print(f"{name:10} {len(r):5d} {p50:8.3f} {p99:8.3f} {r.max():8.3f} {p99 / base:10.2f}")
PY
