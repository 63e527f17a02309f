"""The rclpy side of bridge-ros2/tests/dds_interop.rs.

  dds_peer.py publish-joint-state TOPIC   publish a fixed JointState (sensor QoS) every 50 ms
  dds_peer.py publish-imu TOPIC           the same with a fixed sensor_msgs/Imu
  dds_peer.py publish-odometry TOPIC      the same with a fixed nav_msgs/Odometry
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


def publish_imu(node, topic):
    from sensor_msgs.msg import Imu

    message = Imu()
    message.header.stamp.sec = 42
    message.header.stamp.nanosec = 7
    message.header.frame_id = "imu_link"
    message.orientation.x, message.orientation.y = 0.1, -0.2
    message.orientation.z, message.orientation.w = 0.3, 0.9
    message.orientation_covariance = [0.01 * (i + 1) for i in range(9)]
    message.angular_velocity.x, message.angular_velocity.y, message.angular_velocity.z = 1.5, -2.25, 0.5
    message.angular_velocity_covariance = [-1.0] + [0.0] * 8
    message.linear_acceleration.x, message.linear_acceleration.y = 0.0, 9.81
    message.linear_acceleration.z = -0.125
    message.linear_acceleration_covariance = [float(i) for i in range(9)]
    publisher = node.create_publisher(Imu, topic, qos_profile_sensor_data)
    node.create_timer(0.05, lambda: publisher.publish(message))


def publish_odometry(node, topic):
    from nav_msgs.msg import Odometry

    message = Odometry()
    message.header.stamp.sec = 3
    message.header.stamp.nanosec = 250_000_000
    message.header.frame_id = "odom"
    message.child_frame_id = "base_link"
    position = message.pose.pose.position
    position.x, position.y, position.z = 1.25, -3.5, 0.0
    orientation = message.pose.pose.orientation
    orientation.x, orientation.y, orientation.z, orientation.w = 0.0, 0.0, 0.38268343236, 0.92387953251
    message.pose.covariance = [0.5 * i for i in range(36)]
    linear, angular = message.twist.twist.linear, message.twist.twist.angular
    linear.x, linear.y, linear.z = 0.75, 0.0, 0.0
    angular.x, angular.y, angular.z = 0.0, 0.0, -0.4
    message.twist.covariance = [float(36 - i) for i in range(36)]
    publisher = node.create_publisher(Odometry, topic, qos_profile_sensor_data)
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
    elif mode == "publish-imu":
        publish_imu(node, *args)
    elif mode == "publish-odometry":
        publish_odometry(node, *args)
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
