"""The robot side of bridge-ros2/tests/node_interop.rs, in rclpy on Fast DDS.

  node_peer.py lockstep STATES_JSON   for each [theta, theta_dot]: publish a JointState,
                                      wait for the next command, print {"command": [...]}
  node_peer.py script PHASES_JSON     run timed phases (publish valid / NaN / malformed
                                      states, or stay silent), print every command and
                                      /diagnostics status as JSON lines with the phase
                                      and the time since the phase started

Waits until the node's subscription and publisher are matched before sending. Exits
when done; the Rust test kills it on failure.
"""

import json
import math
import sys
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


def lockstep(robot, states):
    robot.wait_matched()
    robot.commands.clear()
    for theta, theta_dot in states:
        robot.publish([theta], [theta_dot])
        end = time.monotonic() + 5.0
        while not robot.commands and time.monotonic() < end:
            rclpy.spin_once(robot, timeout_sec=0.005)
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


def main():
    rclpy.init()
    robot = Robot()
    mode, argument = sys.argv[1], json.loads(sys.argv[2])
    print("READY", flush=True)
    if mode == "lockstep":
        lockstep(robot, argument)
    elif mode == "script":
        script(robot, argument)
    else:
        raise SystemExit(f"unknown mode {mode}")
    robot.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
