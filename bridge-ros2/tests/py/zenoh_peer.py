"""The rmw_zenoh side of `tests/zenoh_interop.rs`, written with eclipse-zenoh and rosbags.

It plays what an rmw_zenoh system would: a zenoh router (or peer) on an explicit
loopback endpoint, publishing and subscribing on rmw_zenoh key expressions with
rmw_zenoh attachments. Everything it learns goes to stdout as one JSON object per
line; it stops when stdin closes (the Rust test dropped it) or after 30 s.

Nothing here derives names from the Rust code: key expressions are built from the
type hashes in the installed ROS type-description JSON files.
"""

import argparse
import json
import os
import sys
import threading
import time

import numpy as np
import zenoh
import zenoh.ext as zext
from rosbags.typesys import Stores, get_typestore

DEADLINE = time.monotonic() + 30.0
TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
# What Python sends in the JointState test; the Rust test expects exactly this.
JOINT_STATE_STAMP_NS = 1_700_000_000_500_000_000
PYTHON_GID = bytes(range(0xA0, 0xB0))


def emit(**fields):
    print(json.dumps(fields), flush=True)


def type_hash(ros_type):
    """RIHS01 hash of `pkg/msg/Type` from the JSON file its ROS package ships."""
    package, _, name = ros_type.split("/")
    path = os.path.join(sys.prefix, "share", package, "msg", name + ".json")
    with open(path) as f:
        hashes = json.load(f)["type_hashes"]
    return next(h["hash_string"] for h in hashes if h["type_name"] == ros_type)


def key_expr(domain, topic, ros_type):
    package, _, name = ros_type.split("/")
    dds_name = f"{package}::msg::dds_::{name}_"
    return f"{domain}/{topic.strip('/')}/{dds_name}/{type_hash(ros_type)}"


def open_session(args):
    config = {
        "mode": args.mode,
        "listen": {"endpoints": [args.listen] if args.listen else []},
        "connect": {"endpoints": [args.connect] if args.connect else []},
        "scouting": {"multicast": {"enabled": False}, "gossip": {"enabled": False}},
    }
    return zenoh.open(zenoh.Config.from_json5(json.dumps(config)))


def stdin_closed():
    """An event set when the parent closes our stdin."""
    closed = threading.Event()

    def watch():
        sys.stdin.read()
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    return closed


def liveliness_keys(session):
    keys = []
    for reply in session.liveliness().get("@ros2_lv/**", timeout=1.0):
        if reply.ok is not None:
            keys.append(str(reply.ok.key_expr))
    return sorted(keys)


def publish_joint_state(session, args, closed):
    key = key_expr(args.domain, "/joint_states", "sensor_msgs/msg/JointState")
    # Wait for the Rust subscriber's MS token: it is declared after the subscriber.
    while time.monotonic() < DEADLINE:
        subscribers = [k for k in liveliness_keys(session) if "/MS/" in k and "%joint_states/" in k]
        if subscribers:
            emit(event="subscriber_seen", tokens=subscribers)
            break
        time.sleep(0.1)
    else:
        emit(event="timeout", waiting_for="MS token")
        return

    msg_types = TYPESTORE.types
    message = msg_types["sensor_msgs/msg/JointState"](
        header=msg_types["std_msgs/msg/Header"](
            stamp=msg_types["builtin_interfaces/msg/Time"](sec=1_700_000_000, nanosec=123_456_789),
            frame_id="base_link",
        ),
        name=["pendulum_joint", "second_joint"],
        position=np.array([0.25, -3.0], dtype=np.float64),
        velocity=np.array([-1.5, 2.0], dtype=np.float64),
        effort=np.array([0.125, 0.0], dtype=np.float64),
    )
    if args.garbage:
        # Valid header, then a body too short for a JointState.
        payload = b"\x00\x01\x00\x00" + b"\xff" * 6
    else:
        payload = bytes(TYPESTORE.serialize_cdr(message, "sensor_msgs/msg/JointState"))
    publisher = session.declare_publisher(key)
    sequence = 1
    while not closed.is_set() and time.monotonic() < DEADLINE:
        attachment = zext.z_serialize(
            (zext.Int64(sequence), zext.Int64(JOINT_STATE_STAMP_NS), PYTHON_GID)
        )
        publisher.put(payload, attachment=attachment)
        sequence += 1
        time.sleep(0.1)


def subscribe_float64(session, args, closed):
    key = key_expr(args.domain, "/effort_controller/commands", "std_msgs/msg/Float64MultiArray")
    got = threading.Event()

    def on_sample(sample):
        if got.is_set():
            return
        payload = sample.payload.to_bytes()
        message = TYPESTORE.deserialize_cdr(payload, "std_msgs/msg/Float64MultiArray")
        fields = {}
        if sample.attachment is not None:
            raw = sample.attachment.to_bytes()
            sequence, stamp, gid = zext.z_deserialize(
                tuple[zext.Int64, zext.Int64, bytes], sample.attachment
            )
            fields = {"attachment_len": len(raw), "sequence": sequence, "stamp_ns": stamp, "gid": gid.hex()}
        emit(
            event="sample",
            key=str(sample.key_expr),
            encapsulation=payload[:4].hex(),
            data=[float(x) for x in message.data],
            dims=[[d.label, d.size, d.stride] for d in message.layout.dim],
            data_offset=message.layout.data_offset,
            received_ns=time.time_ns(),
            **fields,
        )
        got.set()

    subscriber = session.declare_subscriber(key, on_sample)
    emit(event="ready", key=key)
    while not closed.is_set() and time.monotonic() < DEADLINE and not got.is_set():
        time.sleep(0.05)
    subscriber.undeclare()


def liveliness(session, args, closed):
    while time.monotonic() < DEADLINE and not closed.is_set():
        keys = liveliness_keys(session)
        if any("/MP/" in k for k in keys) and any("/NN/" in k for k in keys):
            emit(event="tokens", tokens=keys)
            return
        time.sleep(0.1)
    emit(event="timeout", waiting_for="MP and NN tokens")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["publish-joint-state", "subscribe-float64", "liveliness"])
    parser.add_argument("--mode", choices=["router", "peer"], default="router")
    parser.add_argument("--listen")
    parser.add_argument("--connect")
    parser.add_argument("--domain", type=int, default=0)
    parser.add_argument("--garbage", action="store_true")
    args = parser.parse_args()
    for endpoint in filter(None, [args.listen, args.connect]):
        if not endpoint.startswith("tcp/127.0.0.1:"):
            sys.exit(f"refusing non-loopback endpoint {endpoint}")

    closed = stdin_closed()
    session = open_session(args)
    if args.role != "subscribe-float64":
        emit(event="ready")
    {
        "publish-joint-state": publish_joint_state,
        "subscribe-float64": subscribe_float64,
        "liveliness": liveliness,
    }[args.role](session, args, closed)
    session.close()


if __name__ == "__main__":
    main()
