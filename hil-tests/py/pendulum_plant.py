#!/usr/bin/env python3
"""A ROS 2 plant node wrapping gymnasium ``Pendulum-v1``, in lock-step with a controller.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST python hil-tests/py/pendulum_plant.py \\
        --episodes 20 --seed 0 --velocity none --out /tmp/pendulum.json

Publishes ``/joint_states`` (``sensor_msgs/JointState``, joint ``pendulum_joint``,
sensor-data QoS) and steps gymnasium with each command received on
``/effort_controller/commands`` (``std_msgs/Float64MultiArray``, one torque, clipped
to [-2, 2]). ``--velocity`` chooses what the message carries besides the angle:

* ``true``: gymnasium's angular velocity (the full state);
* ``zero``: a velocity of 0 (a memoryless model fed the angle alone);
* ``none``: no velocity at all (an empty ``velocity`` array), as from a joint with an
  encoder and no velocity estimate.

Episode ``k`` is ``env.reset(seed=seed + k)`` and runs ``--steps`` steps. Between
episodes the plant stays silent for ``--gap`` s, longer than the node's
``sensor_timeout``, so the controller sees a sensor gap and starts afresh (a
recurrent model resets its state). The lock-step and readiness logic are
``reacher_plant.py``'s. Exit code 0 when every episode ran; 2 on a timeout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import gymnasium as gym
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from reacher_plant import COMMAND_TOPIC, EXIT_TIMEOUT, JOINT_STATES_TOPIC, PlantTimeout, ReacherPlant

JOINT = "pendulum_joint"
MAX_TORQUE = 2.0


class PendulumPlant(Node):
    def __init__(self, velocity: str):
        super().__init__("pendulum_plant")
        self.env = gym.make("Pendulum-v1")
        self.velocity = velocity
        self.joint_pub = self.create_publisher(JointState, JOINT_STATES_TOPIC, qos_profile_sensor_data)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC, self._on_command, reliable)
        self.command: float | None = None
        self.commands_received = 0
        self.commands_ignored = 0

    def _on_command(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != 1 or not math.isfinite(msg.data[0]):
            self.commands_ignored += 1
            return
        self.command = float(np.clip(msg.data[0], -MAX_TORQUE, MAX_TORQUE))
        self.commands_received += 1

    def publish_state(self) -> None:
        theta, theta_dot = (float(x) for x in self.env.unwrapped.state)
        js = JointState()
        js.header.stamp = self.get_clock().now().to_msg()
        js.name = [JOINT]
        js.position = [theta]
        js.velocity = {"true": [theta_dot], "zero": [0.0], "none": []}[self.velocity]
        self.joint_pub.publish(js)

    spin_for = ReacherPlant.spin_for
    wait_ready = ReacherPlant.wait_ready
    wait_command = ReacherPlant.wait_command

    def run_episode(self, seed: int, steps: int, args: argparse.Namespace) -> dict:
        self.env.reset(seed=seed)
        rec: dict = {"seed": seed, "theta": [], "theta_dot": [], "command": [], "reward": []}
        self.command = None
        self.publish_state()
        for _ in range(steps):
            self.wait_command(args.command_timeout, args.resend)
            theta, theta_dot = (float(x) for x in self.env.unwrapped.state)
            _, reward, _, _, _ = self.env.step(np.array([self.command], dtype=np.float32))
            rec["theta"].append(theta)
            rec["theta_dot"].append(theta_dot)
            rec["command"].append(self.command)
            rec["reward"].append(float(reward))
            self.publish_state()
        rec["return"] = float(sum(rec["reward"]))
        return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200, help="steps per episode (Pendulum-v1's is 200)")
    ap.add_argument("--seed", type=int, default=0, help="episode k uses env.reset(seed=SEED + k)")
    ap.add_argument("--velocity", choices=["true", "zero", "none"], default="none")
    ap.add_argument("--gap", type=float, default=0.6, help="s of silence between episodes (> the node's sensor_timeout)")
    ap.add_argument("--out", help="write per-episode returns and per-step arrays to this JSON file")
    ap.add_argument("--ready-timeout", type=float, default=60.0)
    ap.add_argument("--command-timeout", type=float, default=5.0)
    ap.add_argument(
        "--resend",
        type=float,
        default=1.0,
        help="s before an unanswered state is published again (rare: every copy is a new observation to the node)",
    )
    args = ap.parse_args()
    rclpy.init()
    plant = PendulumPlant(args.velocity)
    episodes: list[dict] = []
    code = 0
    try:
        plant.env.reset(seed=args.seed)
        plant.wait_ready(args.ready_timeout, args.resend)
        for k in range(args.episodes):
            plant.spin_for(args.gap)
            rec = plant.run_episode(args.seed + k, args.steps, args)
            episodes.append(rec)
            print(f"episode {k} (seed {args.seed + k}): return {rec['return']:.2f}", flush=True)
    except PlantTimeout as e:
        print(f"pendulum_plant: {e}", file=sys.stderr, flush=True)
        code = EXIT_TIMEOUT
    except KeyboardInterrupt:
        code = 130
    finally:
        returns = [e["return"] for e in episodes]
        if returns:
            print(f"mean return over {len(returns)} episodes: {np.mean(returns):.2f}", flush=True)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(
                    {
                        "env": "Pendulum-v1",
                        "velocity": args.velocity,
                        "seed": args.seed,
                        "completed": code == 0,
                        "returns": returns,
                        "mean_return": float(np.mean(returns)) if returns else None,
                        "commands_ignored": plant.commands_ignored,
                        "episodes": episodes,
                    },
                    fh,
                )
                fh.write("\n")
        plant.env.close()
        plant.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
