#!/usr/bin/env python3
"""A ROS 2 camera plant: gymnasium ``Pendulum-v1`` seen only through gymnasium's renderer.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST python hil-tests/py/pendulum_camera_plant.py \\
        --episodes 20 --seed 0 --out /tmp/pendulum-camera.json

Publishes ``/camera/image_raw`` (``sensor_msgs/Image``, the 500x500 rgb8 frame
``env.render()`` returns with ``render_mode="rgb_array"``, reliable, as camera
drivers publish; ``--compressed`` publishes the same frames as
``sensor_msgs/CompressedImage`` jpeg on ``/camera/image_raw/compressed`` instead,
``format`` as image_transport writes it) and steps gymnasium with each command
received on ``/effort_controller/commands`` (``std_msgs/Float64MultiArray``, one
torque, clipped to [-2, 2]). No joint state is published: the controller sees pixels
only. Each frame's header stamp is the step's time; a frame re-published because no
command came is the same frame with the same stamp.

Episode ``k`` is ``env.reset(seed=seed + k)`` (gymnasium's own resets) and runs
``--steps`` steps, lock-step: frame out, command in, step. Between episodes the plant
is silent for ``--gap`` s (longer than the node's ``sensor_timeout``), so the node
starts its frame stack afresh. Exit code 0 when every episode ran; 2 on a timeout.
``--out`` writes per-episode returns and per-step angles and commands.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time

import gymnasium as gym
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Float64MultiArray

COMMAND_TOPIC = "/effort_controller/commands"
IMAGE_TOPIC = "/camera/image_raw"
COMPRESSED_TOPIC = "/camera/image_raw/compressed"
MAX_TORQUE = 2.0
EXIT_TIMEOUT = 2


class PlantTimeout(Exception):
    pass


class CameraPlant(Node):
    def __init__(self, compressed: bool, quality: int):
        super().__init__("pendulum_camera_plant")
        self.env = gym.make("Pendulum-v1", render_mode="rgb_array")
        self.compressed = compressed
        self.quality = quality
        self.topic = COMPRESSED_TOPIC if compressed else IMAGE_TOPIC
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.create_publisher(CompressedImage if compressed else Image, self.topic, QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE))
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC, self._on_command, reliable)
        self.command: float | None = None
        self.commands_received = 0
        self.frame = None
        self.stamp = None
        self.sim_ns = 0

    def _on_command(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != 1 or not math.isfinite(msg.data[0]):
            return
        self.command = float(np.clip(msg.data[0], -MAX_TORQUE, MAX_TORQUE))
        self.commands_received += 1

    def render(self) -> None:
        """Renders the current state into the frame to publish, with a new stamp."""
        rgb = self.env.render()
        self.sim_ns += 50_000_000
        stamp = self.get_clock().now().to_msg()
        stamp.sec, stamp.nanosec = divmod(self.sim_ns, 1_000_000_000)
        if self.compressed:
            from PIL import Image as Pil

            buf = io.BytesIO()
            Pil.fromarray(rgb).save(buf, format="JPEG", quality=self.quality)
            msg = CompressedImage(format="rgb8; jpeg compressed bgr8", data=buf.getvalue())
        else:
            h, w, _ = rgb.shape
            msg = Image(height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3, data=rgb.tobytes())
        msg.header.stamp = stamp
        msg.header.frame_id = "camera"
        self.frame = msg

    def publish_frame(self) -> None:
        self.pub.publish(self.frame)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            rclpy.spin_once(self, timeout_sec=left)

    def wait_ready(self, timeout: float, resend: float) -> None:
        deadline = time.monotonic() + timeout
        while not (self.count_subscribers(self.topic) > 0 and self.count_publishers(COMMAND_TOPIC) > 0 and self.command is not None):
            if time.monotonic() > deadline:
                raise PlantTimeout(
                    f"no controller within {timeout} s: {self.count_subscribers(self.topic)} subscriber(s) on {self.topic}, "
                    f"{self.commands_received} command(s) received"
                )
            self.publish_frame()
            self.spin_for(resend)

    def wait_command(self, timeout: float, resend: float) -> None:
        seen = self.commands_received
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while self.commands_received == seen:
            now = time.monotonic()
            if now > deadline:
                raise PlantTimeout(f"no command on {COMMAND_TOPIC} within {timeout} s")
            rclpy.spin_once(self, timeout_sec=min(0.05, deadline - now))
            if self.commands_received == seen and time.monotonic() - last > resend:
                self.publish_frame()
                last = time.monotonic()

    def run_episode(self, seed: int, steps: int, args: argparse.Namespace) -> dict:
        self.env.reset(seed=seed)
        rec: dict = {"seed": seed, "theta": [], "theta_dot": [], "command": [], "reward": []}
        self.command = None
        self.render()
        self.publish_frame()
        for _ in range(steps):
            self.wait_command(args.command_timeout, args.resend)
            theta, theta_dot = (float(x) for x in self.env.unwrapped.state)
            _, reward, _, _, _ = self.env.step(np.array([self.command], dtype=np.float32))
            rec["theta"].append(theta)
            rec["theta_dot"].append(theta_dot)
            rec["command"].append(self.command)
            rec["reward"].append(float(reward))
            self.render()
            self.publish_frame()
        rec["return"] = float(sum(rec["reward"]))
        return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0, help="episode k uses env.reset(seed=SEED + k)")
    ap.add_argument("--compressed", action="store_true", help="publish CompressedImage jpeg on /camera/image_raw/compressed")
    ap.add_argument("--quality", type=int, default=90, help="jpeg quality with --compressed")
    ap.add_argument("--gap", type=float, default=0.6, help="s of silence between episodes (> the node's sensor_timeout)")
    ap.add_argument("--out", help="write per-episode returns and per-step arrays to this JSON file")
    ap.add_argument("--ready-timeout", type=float, default=60.0)
    ap.add_argument("--command-timeout", type=float, default=5.0)
    ap.add_argument("--resend", type=float, default=1.0, help="s before an unanswered frame is published again (same frame, same stamp)")
    args = ap.parse_args()
    rclpy.init()
    plant = CameraPlant(args.compressed, args.quality)
    episodes: list[dict] = []
    code = 0
    try:
        plant.env.reset(seed=args.seed)
        plant.render()
        plant.wait_ready(args.ready_timeout, 0.2)
        for k in range(args.episodes):
            plant.spin_for(args.gap)
            rec = plant.run_episode(args.seed + k, args.steps, args)
            episodes.append(rec)
            print(f"episode {k} (seed {args.seed + k}): return {rec['return']:.2f}", flush=True)
    except PlantTimeout as e:
        print(f"pendulum_camera_plant: {e}", file=sys.stderr, flush=True)
        code = EXIT_TIMEOUT
    except KeyboardInterrupt:
        code = 130
    finally:
        returns = [e["return"] for e in episodes]
        if returns:
            print(f"mean return over {len(returns)} episodes: {np.mean(returns):.2f}", flush=True)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump({"env": "Pendulum-v1", "camera": "compressed" if args.compressed else "raw", "seed": args.seed, "returns": returns, "episodes": episodes}, fh)
        plant.env.close()
        plant.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
