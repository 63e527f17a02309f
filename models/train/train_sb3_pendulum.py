#!/usr/bin/env python3
"""Stable-Baselines3 policies for gymnasium ``Pendulum-v1``, exported to ONNX, for
``augur eval`` to rank (models/evals/pendulum.toml).

    python models/train/train_sb3_pendulum.py --out models/policies/pendulum --seed 0

One seeded run per algorithm, saving the policy at several training lengths, so the
shipped policies range from poor to strong:

* SAC (rl-baselines3-zoo's Pendulum hyperparameters: lr 1e-3, gamma 0.9,
  use_sde off) after 1,000, 2,000, 4,000 and 20,000 environment steps;
* TD3 (zoo hyperparameters: gamma 0.98, buffer 200,000, Gaussian action noise 0.1)
  after 3,000 and 20,000 steps.

Each file ``<algo>-<steps>.onnx`` maps a batch of raw observations ``obs [batch, 3]``
(cos θ, sin θ, θ̇, as gymnasium observes them) to ``action [batch, 1]``, the
deterministic torque in N·m: the actor's ``tanh`` output in [-1, 1] mapped onto the
action space as ``policy.unscale_action`` does, inside the graph. The export is
checked against ``model.predict(obs, deterministic=True)`` on 1,000 random
observations with onnxruntime. ``training.json`` records versions, hyperparameters,
wall times and the check's worst error; one torch thread throughout (seeded runs on
one thread are repeatable on one machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime as ort
import stable_baselines3 as sb3
import torch
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import NormalActionNoise

ENV_ID = "Pendulum-v1"

RUNS = {
    "sac": {
        "checkpoints": [1_000, 2_000, 4_000, 20_000],
        "make": lambda env, seed: SAC(
            "MlpPolicy", env, learning_rate=1e-3, gamma=0.9, seed=seed, verbose=0, device="cpu"
        ),
        "hyperparameters": {"learning_rate": 1e-3, "gamma": 0.9, "policy": "MlpPolicy [256, 256]"},
    },
    "td3": {
        "checkpoints": [3_000, 20_000],
        "make": lambda env, seed: TD3(
            "MlpPolicy",
            env,
            gamma=0.98,
            buffer_size=200_000,
            learning_starts=1_000,
            gradient_steps=-1,
            train_freq=(1, "episode"),
            learning_rate=1e-3,
            action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
            policy_kwargs={"net_arch": [400, 300]},
            seed=seed,
            verbose=0,
            device="cpu",
        ),
        "hyperparameters": {
            "gamma": 0.98,
            "buffer_size": 200_000,
            "learning_starts": 1_000,
            "train_freq": "1 episode",
            "gradient_steps": -1,
            "learning_rate": 1e-3,
            "action_noise": "normal 0.1",
            "net_arch": [400, 300],
        },
    },
}


class OnnxActor(torch.nn.Module):
    """Raw observation -> deterministic action in the action space's units."""

    def __init__(self, model, low: np.ndarray, high: np.ndarray):
        super().__init__()
        self.actor = model.policy.actor
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if isinstance(self.actor, sb3.sac.policies.Actor):
            unit = self.actor(obs, deterministic=True)
        else:
            unit = self.actor(obs)
        return self.low + (unit + 1.0) * 0.5 * (self.high - self.low)


def export(model, path: Path, env: gym.Env, rng: np.random.Generator) -> float:
    """Writes the ONNX file and returns its worst error against ``model.predict``."""
    low, high = env.action_space.low, env.action_space.high
    module = OnnxActor(model, low, high).eval()
    example = torch.zeros((1, 3), dtype=torch.float32)
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=["obs"],
        output_names=["action"],
        dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    theta = rng.uniform(-np.pi, np.pi, 1000)
    obs = np.stack([np.cos(theta), np.sin(theta), rng.uniform(-8, 8, 1000)], 1).astype(np.float32)
    expected, _ = model.predict(obs, deterministic=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"obs": obs})[0]
    return float(np.max(np.abs(got - expected)))


class Checkpoints(BaseCallback):
    def __init__(self, name: str, steps: list[int], out: Path, record: dict, started: float):
        super().__init__()
        self.name, self.steps, self.out, self.record, self.started = name, steps, out, record, started
        self.rng = np.random.default_rng(0)

    def _on_step(self) -> bool:
        if self.num_timesteps in self.steps:
            path = self.out / f"{self.name}-{self.num_timesteps}.onnx"
            error = export(self.model, path, self.training_env.envs[0], self.rng)
            self.record[path.name] = {
                "algorithm": self.name.upper(),
                "environment_steps": self.num_timesteps,
                "wall_seconds": round(time.time() - self.started, 1),
                "max_abs_error_vs_predict": error,
            }
            print(f"{path}: {self.num_timesteps} steps, export error {error:.2e}", flush=True)
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("models/policies/pendulum"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=sorted(RUNS), help="train one algorithm only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    record_path = args.out / "training.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    files = record.setdefault("files", {})
    record.update(
        {
            "command": f"python models/train/train_sb3_pendulum.py --out {args.out} --seed {args.seed}",
            "seed": args.seed,
            "environment": ENV_ID,
            "versions": {
                "stable_baselines3": sb3.__version__,
                "torch": torch.__version__,
                "gymnasium": gym.__version__,
                "python": platform.python_version(),
            },
            "hyperparameters": {name: run["hyperparameters"] for name, run in RUNS.items()},
        }
    )
    for name, run in RUNS.items():
        if args.only and name != args.only:
            continue
        env = gym.make(ENV_ID)
        model = run["make"](env, args.seed)
        started = time.time()
        model.learn(
            total_timesteps=max(run["checkpoints"]),
            callback=Checkpoints(name, run["checkpoints"], args.out, files, started),
        )
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"wrote {record_path}")


if __name__ == "__main__":
    main()
