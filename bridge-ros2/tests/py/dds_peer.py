"""The rclpy side of bridge-ros2/tests/dds_interop.rs.

  dds_peer.py publish-joint-state TOPIC   publish a fixed JointState (sensor QoS) every 50 ms
  dds_peer.py subscribe TYPE TOPIC QOS    print each message as one JSON line
  dds_peer.py wait-node NAME              print NAME once the ROS graph shows that node

TYPE is `pkg/msg/Name`; QOS is `reliable` (rclpy's default profile), `sensor`
(qos_profile_sensor_data) or `clock` (best effort, depth 1). Prints READY once its
entities exist. Runs until killed; the Rust test owns the process.
"""

import array
import importlib
import json
import sys

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data


def to_plain(value):
    """A ROS message (or field) as JSON-ready Python values."""
    if hasattr(value, "get_fields_and_field_types"):
        return {name: to_plain(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if isinstance(value, (list, tuple, array.array)) or type(value).__name__ == "ndarray":
        return [to_plain(item) for item in value]
    if isinstance(value, bytes):
        return list(value)
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def qos(name):
    if name == "reliable":
        return QoSProfile(depth=10)
    if name == "sensor":
        return qos_profile_sensor_data
    if name == "clock":
        return QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    raise SystemExit(f"unknown qos {name}")


def message_class(type_name):
    package, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def publish_joint_state(node, topic):
    from sensor_msgs.msg import JointState

    message = JointState()
    message.header.stamp.sec = 17
    message.header.stamp.nanosec = 500
    message.header.frame_id = "pendulum_base"
    message.name = ["pendulum_joint", "second_joint"]
    message.position = [0.25, -1.5]
    message.velocity = [3.0, 0.125]
    message.effort = [-2.0, 0.001]
    publisher = node.create_publisher(JointState, topic, qos_profile_sensor_data)
    node.create_timer(0.05, lambda: publisher.publish(message))


def subscribe(node, type_name, topic, qos_name):
    def on_message(message):
        print(json.dumps(to_plain(message)), flush=True)

    node.create_subscription(message_class(type_name), topic, on_message, qos(qos_name))


def wait_node(node, name):
    def check():
        if any(found == name for found, _ in node.get_node_names_and_namespaces()):
            print(name, flush=True)

    node.create_timer(0.1, check)


def main():
    rclpy.init()
    node = Node("augur_test_peer")
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "publish-joint-state":
        publish_joint_state(node, *args)
    elif mode == "subscribe":
        subscribe(node, *args)
    elif mode == "wait-node":
        wait_node(node, *args)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("READY", flush=True)
    rclpy.spin(node)


if __name__ == "__main__":
    main()
