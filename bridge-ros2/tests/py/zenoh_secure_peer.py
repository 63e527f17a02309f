"""The far side of `tests/zenoh_security.rs`: an eclipse-zenoh peer that connects to
the Augur node's TLS listener with (or without) a client certificate, publishes
JointStates on /joint_states and subscribes to the node's commands and
/diagnostics, on rmw_zenoh key expressions. It prints one JSON object when done:

  {"role": ..., "connected": bool, "sent": n, "commands": m, "diagnostics": {...}}

`connected` is whether a zenoh session to the node came up (TLS handshake and
mutual authentication passed). With `--lockstep` it waits for each command before
the next state and adds the round trips, state out to command in, in ms
(`round_trips_ms`): scripts/bench-security.sh compares them across transports.
Only loopback endpoints are accepted; `tcp/` endpoints connect without TLS.
"""

import argparse
import json
import os
import threading
import time

import numpy as np
import zenoh
import zenoh.ext as zext

from zenoh_peer import TYPESTORE, key_expr


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role")
    parser.add_argument("--connect", required=True)
    parser.add_argument("--ca", default="")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--position", type=float, default=0.3)
    parser.add_argument("--wait", type=float, default=2.0, help="s to wait for the session")
    parser.add_argument("--lockstep", action="store_true")
    args = parser.parse_args()
    if not args.connect.startswith(("tls/127.0.0.1:", "tls/localhost:", "tcp/127.0.0.1:")):
        raise SystemExit(f"refusing non-loopback endpoint {args.connect}")

    tls = {"root_ca_certificate": args.ca, "verify_name_on_connect": True}
    if args.connect.startswith("tcp/"):
        tls = {}
    elif args.cert:
        tls.update(
            connect_certificate=args.cert, connect_private_key=args.key, enable_mtls=True
        )
    config = {
        "mode": "peer",
        "connect": {"endpoints": [args.connect]},
        "listen": {"endpoints": []},
        "scouting": {"multicast": {"enabled": False}, "gossip": {"enabled": False}},
        "transport": {"link": {"tls": tls}},
    }
    session = zenoh.open(zenoh.Config.from_json5(json.dumps(config)))
    end = time.monotonic() + args.wait
    while not list(session.info.peers_zid()) and time.monotonic() < end:
        time.sleep(0.05)
    connected = bool(list(session.info.peers_zid()))

    domain = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    lock = threading.Lock()
    arrived = threading.Condition(lock)
    commands = []
    diagnostics = {}

    def on_command(sample):
        with lock:
            commands.append(time.perf_counter())
            arrived.notify_all()

    def on_diagnostics(sample):
        message = TYPESTORE.deserialize_cdr(
            sample.payload.to_bytes(), "diagnostic_msgs/msg/DiagnosticArray"
        )
        for status in message.status:
            if status.name == "augur: control loop":
                with lock:
                    diagnostics.clear()
                    diagnostics.update({kv.key: kv.value for kv in status.values})

    subscribers = [
        session.declare_subscriber(
            key_expr(domain, "/effort_controller/commands", "std_msgs/msg/Float64MultiArray"),
            on_command,
        ),
        session.declare_subscriber(
            key_expr(domain, "/diagnostics", "diagnostic_msgs/msg/DiagnosticArray"), on_diagnostics
        ),
    ]
    publisher = session.declare_publisher(
        key_expr(domain, "/joint_states", "sensor_msgs/msg/JointState")
    )
    time.sleep(1.0)  # declarations reach the node
    types = TYPESTORE.types
    round_trips = []
    for sequence in range(args.count):
        now = time.time_ns()
        message = types["sensor_msgs/msg/JointState"](
            header=types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=now // 10**9, nanosec=now % 10**9),
                frame_id="",
            ),
            name=["pendulum_joint"],
            position=np.array([args.position], dtype=np.float64),
            velocity=np.array([0.5], dtype=np.float64),
            effort=np.array([], dtype=np.float64),
        )
        payload = bytes(TYPESTORE.serialize_cdr(message, "sensor_msgs/msg/JointState"))
        attachment = zext.z_serialize((zext.Int64(sequence), zext.Int64(now), bytes(16)))
        with lock:
            before = len(commands)
        sent_at = time.perf_counter()
        publisher.put(payload, attachment=attachment)
        if args.lockstep:
            with lock:
                arrived.wait_for(lambda: len(commands) > before, timeout=1.0)
                if len(commands) > before:
                    round_trips.append((commands[before] - sent_at) * 1e3)
            time.sleep(0.005)
        else:
            time.sleep(0.05)
    time.sleep(2.0)  # the last commands and one more /diagnostics
    with lock:
        result = {
            "role": args.role,
            "connected": connected,
            "sent": args.count,
            "commands": len(commands),
            "diagnostics": dict(diagnostics),
        }
        if args.lockstep:
            result["round_trips_ms"] = round_trips
    for subscriber in subscribers:
        subscriber.undeclare()
    session.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
