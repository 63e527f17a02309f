#!/usr/bin/env python3
"""A ROS 2 plant node wrapping gymnasium ``Reacher-v5`` (MuJoCo two-link arm).

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST python hil-tests/py/reacher_plant.py \\
        --episodes 20 --seed 0 --mode lockstep --out /tmp/reacher.json

Topics (the robot interface of models/reacher/node.yaml):

* publishes ``/joint_states`` (``sensor_msgs/JointState``; joints ``joint0``,
  ``joint1``; position rad, velocity rad/s; header stamped with the node clock) and
  ``/target`` (``geometry_msgs/PointStamped``, frame ``world``, target x/y in m), both
  best-effort with the sensor-data QoS profile;
* subscribes ``/effort_controller/commands`` (``std_msgs/Float64MultiArray``, 2 joint
  efforts, the Reacher action in [-1, 1]; reliable, depth 10); other lengths and
  non-finite values are counted and ignored, efforts outside [-1, 1] are clipped;
* publishes ``/plant/episode`` (``std_msgs/Float64MultiArray``,
  ``[episode_index, return, steps]``; reliable, depth 10) at the end of each episode.

Episode ``k`` is ``env.reset(seed=seed + k)`` and runs ``--steps`` steps of 0.02 s.
Modes: ``lockstep`` publishes the state, waits for the next command (re-publishing
the state every ``--resend`` s meanwhile) and steps with it; ``realtime`` steps every
dt of wall time with the latest command, as a real robot would.  Before the first
episode the plant re-publishes the initial state until a subscriber to
``/joint_states`` and a publisher of commands are matched and a first command has
arrived.  Exit code 0 when every episode ran; 2 on a ready or command timeout, with
the reason on stderr.  ``--out`` writes per-episode returns and per-step arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import gymnasium as gym
import numpy as np
import rclpy
from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

ENV_ID = "Reacher-v5"
JOINTS = ("joint0", "joint1")
JOINT_STATES_TOPIC = "/joint_states"
TARGET_TOPIC = "/target"
COMMAND_TOPIC = "/effort_controller/commands"
EPISODE_TOPIC = "/plant/episode"
ACTION_DIM = 2
EXIT_TIMEOUT = 2


class PlantTimeout(Exception):
    """The controller did not show up or stopped commanding in time."""


class ReacherPlant(Node):
    def __init__(self, steps: int):
        super().__init__("reacher_plant")
        self.env = gym.make(ENV_ID, max_episode_steps=steps)
        self.low = self.env.action_space.low.astype(np.float64)
        self.high = self.env.action_space.high.astype(np.float64)
        self.dt = float(self.env.unwrapped.dt)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.joint_pub = self.create_publisher(JointState, JOINT_STATES_TOPIC, qos_profile_sensor_data)
        self.target_pub = self.create_publisher(PointStamped, TARGET_TOPIC, qos_profile_sensor_data)
        self.episode_pub = self.create_publisher(Float64MultiArray, EPISODE_TOPIC, reliable)
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC, self._on_command, reliable)
        self.command: np.ndarray | None = None  # latest valid command, clipped
        self.commands_received = 0
        self.commands_ignored = 0

    # -- wire ---------------------------------------------------------------------------
    def _on_command(self, msg: Float64MultiArray) -> None:
        data = np.asarray(msg.data, dtype=np.float64)
        if data.shape != (ACTION_DIM,) or not np.all(np.isfinite(data)):
            self.commands_ignored += 1
            self.get_logger().warn(f"ignoring command {list(msg.data)}: expected {ACTION_DIM} finite efforts")
            return
        self.command = np.clip(data, self.low, self.high)
        self.commands_received += 1

    def publish_state(self) -> None:
        d = self.env.unwrapped.data
        stamp = self.get_clock().now().to_msg()
        js = JointState()
        js.header.stamp = stamp
        js.name = list(JOINTS)
        js.position = [float(d.qpos[0]), float(d.qpos[1])]
        js.velocity = [float(d.qvel[0]), float(d.qvel[1])]
        self.joint_pub.publish(js)
        target = PointStamped()
        target.header.stamp = stamp
        target.header.frame_id = "world"
        target.point.x, target.point.y = float(d.qpos[2]), float(d.qpos[3])
        self.target_pub.publish(target)

    def publish_episode(self, index: int, ret: float, steps: int) -> None:
        self.episode_pub.publish(Float64MultiArray(data=[float(index), float(ret), float(steps)]))

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            rclpy.spin_once(self, timeout_sec=left)

    # -- phases -------------------------------------------------------------------------
    def wait_ready(self, timeout: float, resend: float) -> None:
        """Re-publishes the initial state until a controller is matched both ways and
        its first command arrived."""
        deadline = time.monotonic() + timeout
        while True:
            matched = self.count_subscribers(JOINT_STATES_TOPIC) > 0 and self.count_publishers(COMMAND_TOPIC) > 0
            if matched and self.command is not None:
                return
            if time.monotonic() > deadline:
                raise PlantTimeout(
                    f"no controller within {timeout} s: {self.count_subscribers(JOINT_STATES_TOPIC)} subscriber(s) "
                    f"on {JOINT_STATES_TOPIC}, {self.count_publishers(COMMAND_TOPIC)} publisher(s) on "
                    f"{COMMAND_TOPIC}, {self.commands_received} command(s) received"
                )
            self.publish_state()
            self.spin_for(resend)

    def wait_command(self, timeout: float, resend: float) -> None:
        """Lockstep: waits for a command received after this call, re-publishing the
        state every ``resend`` s (the state topic is best-effort)."""
        seen = self.commands_received
        deadline = time.monotonic() + timeout
        while self.commands_received == seen:
            now = time.monotonic()
            if now > deadline:
                raise PlantTimeout(f"no command on {COMMAND_TOPIC} within {timeout} s")
            rclpy.spin_once(self, timeout_sec=min(resend, deadline - now))
            if self.commands_received == seen:
                self.publish_state()

    def run_episode(self, index: int, seed: int, steps: int, mode: str, args: argparse.Namespace) -> dict:
        self.env.reset(seed=seed)
        d = self.env.unwrapped.data
        rec: dict = {"index": index, "seed": seed, "time": [], "q": [], "qdot": [], "target": [], "command": [], "reward": []}
        ret, t0 = 0.0, time.monotonic()
        next_tick = t0
        self.publish_state()
        for _ in range(steps):
            if mode == "lockstep":
                self.wait_command(args.command_timeout, args.resend)
            else:
                next_tick += self.dt
                self.spin_for(next_tick - time.monotonic())
                if time.monotonic() - next_tick > args.command_timeout:
                    raise PlantTimeout(f"realtime loop fell {args.command_timeout} s behind")
            action = self.command.copy()
            rec["time"].append(round(time.monotonic() - t0, 6))
            rec["q"].append([float(d.qpos[0]), float(d.qpos[1])])
            rec["qdot"].append([float(d.qvel[0]), float(d.qvel[1])])
            rec["target"].append([float(d.qpos[2]), float(d.qpos[3])])
            rec["command"].append(action.tolist())
            _, reward, terminated, truncated, _ = self.env.step(action.astype(np.float32))
            ret += float(reward)
            rec["reward"].append(float(reward))
            self.publish_state()
            if terminated:
                break
        rec["return"] = ret
        rec["steps"] = len(rec["reward"])
        self.publish_episode(index, ret, rec["steps"])
        return rec


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50, help="steps per episode (Reacher-v5's standard episode is 50)")
    ap.add_argument("--seed", type=int, default=0, help="episode k uses env.reset(seed=SEED + k)")
    ap.add_argument("--mode", choices=["lockstep", "realtime"], default="lockstep")
    ap.add_argument("--out", help="write per-episode returns and per-step arrays to this JSON file")
    ap.add_argument("--ready-timeout", type=float, default=30.0, help="s to wait for the controller before the first episode")
    ap.add_argument("--command-timeout", type=float, default=5.0, help="s to wait for each command (lockstep) or lag allowed (realtime)")
    ap.add_argument("--resend", type=float, default=0.1, help="s between re-publications of an unanswered state")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    rclpy.init()
    plant = ReacherPlant(args.steps)
    episodes: list[dict] = []
    code = 0
    try:
        plant.wait_ready(args.ready_timeout, args.resend)
        for k in range(args.episodes):
            rec = plant.run_episode(k, args.seed + k, args.steps, args.mode, args)
            episodes.append(rec)
            print(f"episode {k} (seed {args.seed + k}): return {rec['return']:.3f} in {rec['steps']} steps", flush=True)
        plant.spin_for(0.2)  # let the last /plant/episode and state go out
    except PlantTimeout as e:
        print(f"reacher_plant: {e}", file=sys.stderr, flush=True)
        code = EXIT_TIMEOUT
    except KeyboardInterrupt:
        code = 130
    finally:
        if args.out:
            returns = [e["return"] for e in episodes]
            result = {
                "env": ENV_ID,
                "mode": args.mode,
                "seed": args.seed,
                "steps": args.steps,
                "dt": plant.dt,
                "episodes_requested": args.episodes,
                "completed": code == 0,
                "returns": returns,
                "mean_return": float(np.mean(returns)) if returns else None,
                "commands_received": plant.commands_received,
                "commands_ignored": plant.commands_ignored,
                "episodes": episodes,
            }
            with open(args.out, "w") as fh:
                json.dump(result, fh)
                fh.write("\n")
        plant.env.close()
        plant.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
