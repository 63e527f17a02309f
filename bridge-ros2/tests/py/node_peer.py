"""The robot side of bridge-ros2/tests/node_interop.rs: rclpy on Fast DDS, or with
`--zenoh-listen tcp/127.0.0.1:PORT` a zenoh router speaking rmw_zenoh's key
expressions and CDR payloads (eclipse-zenoh + rosbags, as in zenoh_peer.py).

  node_peer.py lockstep STATES_JSON   for each [theta, theta_dot]: publish a JointState,
                                      wait for the next command, print {"command": [...]}
  node_peer.py sim_clock PLAN_JSON    publish /clock next to the states (ticks, a pause,
                                      a jump back) and print every command, as script
  node_peer.py script PHASES_JSON     run timed phases (publish valid / NaN / malformed
                                      states, or stay silent), print every command and
                                      /diagnostics status as JSON lines with the phase
                                      and the time since the phase started

Waits until the node's subscription and publisher are matched before sending. Exits
when done; the Rust test kills it on failure.
"""

import argparse
import json
import math
import os
import threading
import time

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from diagnostic_msgs.msg import DiagnosticArray

JOINT = "pendulum_joint"


class Robot(Node):
    def __init__(self):
        super().__init__("pendulum_robot")
        self.states = self.create_publisher(JointState, "/joint_states", qos_profile_sensor_data)
        self.commands = []
        self.diagnostics = []
        self.create_subscription(
            Float64MultiArray, "/effort_controller/commands", self.on_command, QoSProfile(depth=10)
        )
        self.create_subscription(
            DiagnosticArray, "/diagnostics", self.on_diagnostics, QoSProfile(depth=10)
        )

    def on_command(self, message):
        self.commands.append((time.monotonic(), list(message.data)))

    def on_diagnostics(self, message):
        for status in message.status:
            if status.name == "augur: control loop":
                values = {kv.key: kv.value for kv in status.values}
                level = status.level  # `byte` arrives as bytes
                level = level[0] if isinstance(level, (bytes, bytearray)) else int(level)
                self.diagnostics.append((time.monotonic(), level, status.message, values))

    def publish(self, position, velocity, names=(JOINT,)):
        message = JointState()
        message.name = list(names)
        message.position = list(position)
        message.velocity = list(velocity)
        self.states.publish(message)

    def publish_raw(self, payload):
        self.states.publish(payload)

    def spin_once(self, timeout):
        rclpy.spin_once(self, timeout_sec=timeout)

    def close(self):
        self.destroy_node()
        rclpy.shutdown()

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self, timeout_sec=max(0.0, min(0.005, end - time.monotonic())))

    def wait_matched(self, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.states.get_subscription_count() > 0 and self.count_publishers("/effort_controller/commands") > 0:
                # Let the reliable command reader match the writer as well.
                self.spin_for(0.5)
                return
            self.spin_for(0.05)
        raise SystemExit("the augur node was not discovered within 30 s")


class ZenohRobot:
    """The same robot over zenoh: a router on a loopback endpoint that the node
    connects to, publishing and subscribing on rmw_zenoh key expressions."""

    def __init__(self, listen):
        import numpy as np
        import zenoh
        import zenoh.ext as zext
        from zenoh_peer import TYPESTORE, key_expr, liveliness_keys

        self.np, self.zext, self.types = np, zext, TYPESTORE
        self.liveliness_keys = liveliness_keys
        domain = int(os.environ.get("ROS_DOMAIN_ID", "0"))
        config = {
            "mode": "router",
            "listen": {"endpoints": [listen]},
            "scouting": {"multicast": {"enabled": False}, "gossip": {"enabled": False}},
        }
        self.session = zenoh.open(zenoh.Config.from_json5(json.dumps(config)))
        self.lock = threading.Lock()
        self.commands = []
        self.diagnostics = []
        self.sequence = 1
        self.states = self.session.declare_publisher(
            key_expr(domain, "/joint_states", "sensor_msgs/msg/JointState")
        )
        self.subscribers = [
            self.session.declare_subscriber(
                key_expr(domain, "/effort_controller/commands", "std_msgs/msg/Float64MultiArray"),
                self.on_command,
            ),
            self.session.declare_subscriber(
                key_expr(domain, "/diagnostics", "diagnostic_msgs/msg/DiagnosticArray"),
                self.on_diagnostics,
            ),
        ]

    def on_command(self, sample):
        message = self.types.deserialize_cdr(
            sample.payload.to_bytes(), "std_msgs/msg/Float64MultiArray"
        )
        with self.lock:
            self.commands.append((time.monotonic(), [float(x) for x in message.data]))

    def on_diagnostics(self, sample):
        message = self.types.deserialize_cdr(
            sample.payload.to_bytes(), "diagnostic_msgs/msg/DiagnosticArray"
        )
        for status in message.status:
            if status.name == "augur: control loop":
                values = {kv.key: kv.value for kv in status.values}
                with self.lock:
                    self.diagnostics.append((time.monotonic(), int(status.level), status.message, values))

    def publish(self, position, velocity, names=(JOINT,)):
        types, np = self.types.types, self.np
        now = time.time_ns()
        message = types["sensor_msgs/msg/JointState"](
            header=types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=now // 10**9, nanosec=now % 10**9),
                frame_id="",
            ),
            name=list(names),
            position=np.array(position, dtype=np.float64),
            velocity=np.array(velocity, dtype=np.float64),
            effort=np.array([], dtype=np.float64),
        )
        payload = bytes(self.types.serialize_cdr(message, "sensor_msgs/msg/JointState"))
        zext = self.zext
        attachment = zext.z_serialize((zext.Int64(self.sequence), zext.Int64(now), bytes(16)))
        self.sequence += 1
        self.states.put(payload, attachment=attachment)

    def publish_raw(self, payload):
        zext = self.zext
        attachment = zext.z_serialize((zext.Int64(self.sequence), zext.Int64(time.time_ns()), bytes(16)))
        self.sequence += 1
        self.states.put(payload, attachment=attachment)

    def spin_for(self, seconds):
        time.sleep(seconds)

    def spin_once(self, timeout):
        time.sleep(timeout)

    def wait_matched(self, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            keys = self.liveliness_keys(self.session)
            subscribed = any("/MS/" in k and "%joint_states/" in k for k in keys)
            publishing = any("/MP/" in k and "%effort_controller%commands/" in k for k in keys)
            if subscribed and publishing:
                time.sleep(0.5)
                return
            time.sleep(0.05)
        raise SystemExit("the augur node's zenoh tokens did not appear within 30 s")

    def close(self):
        for subscriber in self.subscribers:
            subscriber.undeclare()
        self.session.close()


def huge_length_payloads():
    """JointState CDR whose length fields claim gigabytes: the name sequence, a name
    string and the position sequence. Each must be dropped and counted without the
    node allocating what it claims."""
    header = bytes([0, 1, 0, 0]) + (7).to_bytes(4, "little") + (0).to_bytes(4, "little")
    header += (1).to_bytes(4, "little") + bytes(4)  # frame_id "" (NUL, padded)
    names_claim = header + (0xFFFFFFFF).to_bytes(4, "little")
    string_claim = header + (1).to_bytes(4, "little") + (0xFFFFFFF0).to_bytes(4, "little") + b"pend"
    one_name = header + (1).to_bytes(4, "little") + (15).to_bytes(4, "little") + JOINT.encode() + b"\0"
    one_name += bytes(-len(one_name) % 4)
    position_claim = one_name + (0x7FFFFFFF).to_bytes(4, "little") + bytes(4) + bytes(8)
    return [names_claim, string_claim, position_claim]


def lockstep(robot, states):
    robot.wait_matched()
    robot.commands.clear()
    for theta, theta_dot in states:
        robot.publish([theta], [theta_dot])
        end = time.monotonic() + 5.0
        while not robot.commands and time.monotonic() < end:
            robot.spin_once(0.005)
        if not robot.commands:
            raise SystemExit(f"no command for state {theta}, {theta_dot}")
        _, command = robot.commands.pop(0)
        print(json.dumps({"command": command}), flush=True)


def script(robot, phases):
    robot.wait_matched()
    robot.commands.clear()
    robot.diagnostics.clear()
    theta = 0.3
    for phase in phases:
        name, seconds, kind = phase["name"], phase["seconds"], phase["kind"]
        start = time.monotonic()
        print(json.dumps({"phase": name, "start": start}), flush=True)
        sent = 0
        while time.monotonic() - start < seconds:
            if kind == "valid":
                robot.publish([theta], [0.5])
            elif kind == "nan":
                robot.publish([theta], [math.nan])
            elif kind == "huge_length":
                if sent < phase["count"]:
                    payloads = huge_length_payloads()
                    robot.publish_raw(payloads[sent % len(payloads)])
                robot.publish([theta], [0.5])
            elif kind in ("unknown_joint", "wrong_length"):
                # Malformed messages between valid ones: only the count may change.
                if sent < phase["count"]:
                    if kind == "unknown_joint":
                        robot.publish([theta], [0.5], names=("elbow_joint",))
                    else:
                        robot.publish([theta, 0.1], [0.5], names=(JOINT,))
                robot.publish([theta], [0.5])
            sent += 1
            robot.spin_for(0.02)
    robot.spin_for(1.5)  # the last /diagnostics
    for at, command in robot.commands:
        print(json.dumps({"command": command, "at": at}), flush=True)
    for at, level, message, values in robot.diagnostics:
        print(json.dumps({"diagnostics": values, "level": level, "message": message, "at": at}), flush=True)
    print(json.dumps({"done": True}), flush=True)


def sim_clock(robot, plan):
    """Publish /clock (simulated time) next to valid states: `ticks` ticks of
    `tick_sim_ms` every `tick_wall_ms`, then a pause (clock stands still), then a jump
    back to `jump_to_s` followed by `ticks` more ticks."""
    from builtin_interfaces.msg import Time
    from rosgraph_msgs.msg import Clock

    clock = robot.create_publisher(Clock, "/clock", 10)
    robot.wait_matched()
    robot.commands.clear()
    robot.diagnostics.clear()

    def tick(t_ns):
        message = Clock()
        message.clock = Time(sec=t_ns // 10**9, nanosec=t_ns % 10**9)
        clock.publish(message)
        robot.publish([0.3], [0.5])
        robot.spin_for(plan["tick_wall_ms"] / 1000)

    def phase(name):
        print(json.dumps({"phase": name, "start": time.monotonic()}), flush=True)

    t = plan["start_s"] * 10**9
    phase("run")
    for _ in range(plan["ticks"]):
        t += plan["tick_sim_ms"] * 10**6
        tick(t)
    phase("pause")
    end = time.monotonic() + plan["pause_s"]
    while time.monotonic() < end:
        robot.publish([0.3], [0.5])
        robot.spin_for(0.02)
    phase("jumped")
    t = plan["jump_to_s"] * 10**9
    for _ in range(plan["ticks"]):
        t += plan["tick_sim_ms"] * 10**6
        tick(t)
    phase("end")
    robot.spin_for(1.5)
    for at, command in robot.commands:
        print(json.dumps({"command": command, "at": at}), flush=True)
    for at, level, message, values in robot.diagnostics:
        print(json.dumps({"diagnostics": values, "level": level, "message": message, "at": at}), flush=True)
    print(json.dumps({"done": True}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["lockstep", "script", "sim_clock"])
    parser.add_argument("argument", help="the states (lockstep) or phases (script), JSON")
    parser.add_argument("--zenoh-listen", help="use zenoh, as a router on this endpoint")
    args = parser.parse_args()
    if args.zenoh_listen:
        if not args.zenoh_listen.startswith("tcp/127.0.0.1:"):
            raise SystemExit(f"refusing non-loopback endpoint {args.zenoh_listen}")
        robot = ZenohRobot(args.zenoh_listen)
    else:
        rclpy.init()
        robot = Robot()
    print("READY", flush=True)
    modes = {"lockstep": lockstep, "script": script, "sim_clock": sim_clock}
    modes[args.mode](robot, json.loads(args.argument))
    robot.close()


if __name__ == "__main__":
    main()
