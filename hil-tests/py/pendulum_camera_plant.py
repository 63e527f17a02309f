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

``--bad KIND --bad-from N --bad-steps M`` publishes, at steps N..N+M of every
episode, a broken frame instead of the rendered one (the plant still steps with
whatever command comes, which is the node's safe action while it lasts), to check the
node's refusals end to end: raw kinds ``encoding`` (yuv422), ``step`` (``step *
height`` longer than the data), ``empty`` (0x0), ``huge`` (1200x1000, over a
``max_image_pixels`` of 1e6); compressed kinds ``corrupt`` (jpeg with its headers
overwritten), ``truncated`` (png cut in half), ``bomb`` (a png header claiming
100000x100000), ``format`` (a ``format`` of bmp). ``--watch`` also counts what the
node publishes on ``/augur/model_view`` and ``/augur/imagined`` and the largest
``messages_malformed`` on ``/diagnostics``, into ``--out``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import struct
import sys
import time
import zlib

# gymnasium renders through pygame: no display, no audio device.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import gymnasium as gym
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Float64MultiArray

RAW_FAULTS = ("encoding", "step", "empty", "huge")
COMPRESSED_FAULTS = ("corrupt", "truncated", "bomb", "format")

COMMAND_TOPIC = "/effort_controller/commands"
IMAGE_TOPIC = "/camera/image_raw"
COMPRESSED_TOPIC = "/camera/image_raw/compressed"
MAX_TORQUE = 2.0
EXIT_TIMEOUT = 2


class PlantTimeout(Exception):
    pass


class CameraPlant(Node):
    def __init__(self, compressed: bool, quality: int, watch: bool = False):
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
        self.watched: dict = {"model_view": [], "imagined": [], "max_malformed": 0}
        if watch:
            self.create_subscription(Image, "/augur/model_view", lambda m: self._on_view("model_view", m), 10)
            self.create_subscription(Image, "/augur/imagined", lambda m: self._on_view("imagined", m), 10)
            self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_view(self, topic: str, msg: Image) -> None:
        data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
        seen = self.watched[topic]
        if len(seen) < 10_000:
            seen.append({"width": msg.width, "height": msg.height, "encoding": msg.encoding, "step": msg.step,
                         "len": int(data.size), "min": int(data.min()) if data.size else 0,
                         "max": int(data.max()) if data.size else 0})

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            for kv in status.values:
                if kv.key == "messages_malformed":
                    self.watched["max_malformed"] = max(self.watched["max_malformed"], int(kv.value))

    def bad_frame(self, kind: str) -> None:
        """Replaces the frame to publish with a broken one of `kind` (new stamp)."""
        self.sim_ns += 50_000_000
        stamp = self.get_clock().now().to_msg()
        stamp.sec, stamp.nanosec = divmod(self.sim_ns, 1_000_000_000)
        good = self.frame
        if kind == "encoding":
            msg = Image(height=good.height, width=good.width, encoding="yuv422", step=good.width * 2,
                        data=bytes(good.width * good.height * 2))
        elif kind == "step":
            msg = Image(height=good.height, width=good.width, encoding="rgb8", step=good.step + 6, data=good.data)
        elif kind == "empty":
            msg = Image(height=0, width=0, encoding="rgb8", step=0, data=b"")
        elif kind == "huge":
            msg = Image(height=1000, width=1200, encoding="mono8", step=1200, data=bytes(1200 * 1000))
        elif kind == "corrupt":
            # The segments after SOI (quantisation, frame, Huffman tables) overwritten:
            # entropy data alone can be garbled into a valid picture of noise, a frame
            # header cannot.
            data = bytearray(good.data)
            data[2:1026] = np.random.default_rng(self.sim_ns).integers(0, 256, 1024, dtype=np.uint8).tobytes()
            msg = CompressedImage(format=good.format, data=bytes(data))
        elif kind == "truncated":
            from PIL import Image as Pil

            buf = io.BytesIO()
            Pil.fromarray(self.env.render()).save(buf, format="PNG")
            png = buf.getvalue()
            msg = CompressedImage(format="png", data=png[: len(png) // 2])
        elif kind == "bomb":
            msg = CompressedImage(format="png", data=png_claiming(100_000, 100_000))
        elif kind == "format":
            msg = CompressedImage(format="bmp", data=good.data)
        else:
            raise ValueError(f"unknown --bad kind {kind!r}")
        msg.header.stamp = stamp
        msg.header.frame_id = "camera"
        self.frame = msg

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
        for step in range(steps):
            self.wait_command(args.command_timeout, args.resend)
            theta, theta_dot = (float(x) for x in self.env.unwrapped.state)
            _, reward, _, _, _ = self.env.step(np.array([self.command], dtype=np.float32))
            rec["theta"].append(theta)
            rec["theta_dot"].append(theta_dot)
            rec["command"].append(self.command)
            rec["reward"].append(float(reward))
            self.render()
            if args.bad and args.bad_from <= step + 1 < args.bad_from + args.bad_steps:
                self.bad_frame(args.bad)
            self.publish_frame()
        rec["return"] = float(sum(rec["reward"]))
        return rec


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed png whose header claims `width` x `height` grey pixels, with a
    few bytes of image data: what a decompression bomb looks like before inflating."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1 << 16))) + chunk(b"IEND", b"")


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
    ap.add_argument("--bad", choices=RAW_FAULTS + COMPRESSED_FAULTS, help="publish broken frames of this kind")
    ap.add_argument("--bad-from", type=int, default=60, help="first step of every episode with a broken frame")
    ap.add_argument("--bad-steps", type=int, default=20, help="steps of broken frames")
    ap.add_argument("--watch", action="store_true", help="count /augur/model_view, /augur/imagined and malformed messages")
    args = ap.parse_args()
    if args.bad and (args.bad in COMPRESSED_FAULTS) != args.compressed:
        ap.error(f"--bad {args.bad} needs {'' if args.bad in COMPRESSED_FAULTS else 'no '}--compressed")
    rclpy.init()
    plant = CameraPlant(args.compressed, args.quality, args.watch)
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
                plant.spin_for(1.2 if args.watch else 0.3)  # the last views and diagnostics
                json.dump({"env": "Pendulum-v1", "camera": "compressed" if args.compressed else "raw", "seed": args.seed,
                           "bad": args.bad, "returns": returns, "episodes": episodes, "watched": plant.watched}, fh)
        plant.env.close()
        plant.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
