"""Closed-loop test of a model package: TD-MPC2's MPPI planner, in numpy over the
exported ONNX graphs (onnxruntime), controlling the package's gymnasium environment
(the task named by the manifest's model name, ``tasks.py``: ``Pendulum-v1``,
``Reacher-v5``).

    python models/train/evaluate_planner.py --model models/pendulum            # TD-MPC2 defaults
    python models/train/evaluate_planner.py --model models/pendulum \\
        --horizon 4 --samples 256 --pi-trajs 16 --elites 32 --iterations 5
    python models/train/evaluate_planner.py --model models/pendulum --planner policy
    python models/train/evaluate_planner.py --model models/reacher --planner random   # baselines: random, zero

Episode ``i`` uses ``env.reset(seed=i)`` and planner (or random-action) noise seeded
with ``i``; returns are gymnasium's undiscounted returns over the task's standard
episode (Pendulum 200 steps, Reacher 50).  This is the acceptance test of the shipped
models, and it doubles as a reference implementation of the planner for the Rust one:
the same algorithm as TD-MPC2's ``_plan``:

* ``pi_trajs`` prior trajectories sampled from the policy graph, rolled through the
  dynamics;
* ``samples - pi_trajs`` Gaussian trajectories around a mean warm-started from the
  previous plan shifted by one step (last step 0) and a std starting at ``max_std``;
* each trajectory scored by the discounted sum of predicted rewards plus the discounted
  value graph at the horizon;
* ``elites`` best kept, weights ``exp(temperature * (v - v_max))``, mean and std
  refitted from them, std clamped to ``[min_std, max_std]``; ``iterations`` rounds;
* the action executed is the first action of an elite drawn with those weights.

All of this happens in actions normalised to [-1, 1] (TD-MPC2's convention, which is
what ``min_std``/``max_std`` refer to); the graphs are fed physical units.
Timings are of this Python/onnxruntime implementation, not of Augur's runtime.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime as ort

import tasks


class OnnxWorldModel:
    """The package's graphs behind the same four calls the Rust ``WorldModel`` trait has."""

    def __init__(self, package: Path, threads: int = 1):
        with open(package / "manifest.toml", "rb") as fh:
            self.manifest = m = tomllib.load(fh)
        self.discount = float(m["model"]["discount"])
        self.obs_mean = np.array([f["mean"] for f in m["observation"]], dtype=np.float32)
        self.obs_std = np.array([f["std"] for f in m["observation"]], dtype=np.float32)
        self.low = np.array([a["low"] for a in m["action"]], dtype=np.float32)
        self.high = np.array([a["high"] for a in m["action"]], dtype=np.float32)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sessions = {
            role: ort.InferenceSession(str(package / g["file"]), opts, providers=["CPUExecutionProvider"])
            for role, g in m["graphs"].items()
        }
        self.names = {
            role: ([t["name"] for t in g["inputs"]], [t["name"] for t in g["outputs"]])
            for role, g in m["graphs"].items()
        }

    def _run(self, role: str, *inputs: np.ndarray) -> list[np.ndarray]:
        ins, outs = self.names[role]
        return self.sessions[role].run(outs, dict(zip(ins, inputs)))

    def encode(self, obs: np.ndarray) -> np.ndarray:
        """Raw observations ``[n, O]`` -> latents (normalisation as the manifest says)."""
        return self._run("encoder", ((obs - self.obs_mean) / self.obs_std).astype(np.float32))[0]

    def step(self, z: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z_next, reward = self._run("dynamics", z, action.astype(np.float32))
        return z_next, reward[:, 0]

    def value(self, z: np.ndarray) -> np.ndarray:
        return self._run("value", z)[0][:, 0]

    def policy(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, log_std = self._run("policy", z)
        return mean, log_std

    def to_physical(self, u: np.ndarray) -> np.ndarray:
        return (self.low + (u + 1.0) * 0.5 * (self.high - self.low)).astype(np.float32)

    def to_unit(self, a: np.ndarray) -> np.ndarray:
        return (2.0 * (a - self.low) / (self.high - self.low) - 1.0).astype(np.float32)


@dataclass
class MppiConfig:
    """TD-MPC2's defaults."""

    horizon: int = 3
    samples: int = 512
    pi_trajs: int = 24
    elites: int = 64
    iterations: int = 6
    temperature: float = 0.5
    min_std: float = 0.05
    max_std: float = 2.0


class Mppi:
    def __init__(self, model: OnnxWorldModel, cfg: MppiConfig, rng: np.random.Generator):
        self.m, self.cfg, self.rng = model, cfg, rng
        self.A = len(model.low)
        self.prev_mean: np.ndarray | None = None

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.prev_mean = None

    def _returns(self, z0: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Discounted predicted reward over the horizon + discounted value at its end."""
        m = self.m
        z = np.repeat(z0, u.shape[1], axis=0)
        G = np.zeros(u.shape[1], dtype=np.float32)
        discount = 1.0
        for t in range(u.shape[0]):
            z, r = m.step(z, m.to_physical(u[t]))
            G += discount * r
            discount *= m.discount
        if "value" in m.sessions:
            G += discount * m.value(z)
        return G

    def plan(self, obs: np.ndarray) -> np.ndarray:
        c, m, rng, A, H = self.cfg, self.m, self.rng, self.A, self.cfg.horizon
        z0 = m.encode(obs[None, :])
        P = c.pi_trajs if "policy" in m.sessions else 0
        u = np.empty((H, c.samples, A), dtype=np.float32)
        if P:
            z = np.repeat(z0, P, axis=0)
            for t in range(H):
                mean, log_std = m.policy(z)
                a = mean + np.exp(log_std) * rng.standard_normal(mean.shape).astype(np.float32)
                u[t, :P] = np.clip(m.to_unit(a), -1.0, 1.0)
                if t < H - 1:
                    z, _ = m.step(z, m.to_physical(u[t, :P]))
        mean = np.zeros((H, A), dtype=np.float32)
        std = np.full((H, A), c.max_std, dtype=np.float32)
        if self.prev_mean is not None:
            mean[:-1] = self.prev_mean[1:]
        for _ in range(c.iterations):
            noise = rng.standard_normal((H, c.samples - P, A)).astype(np.float32)
            u[:, P:] = np.clip(mean[:, None] + std[:, None] * noise, -1.0, 1.0)
            value = np.nan_to_num(self._returns(z0, u))
            elite = np.argpartition(-value, c.elites - 1)[: c.elites]
            elite_value, elite_u = value[elite], u[:, elite]
            score = np.exp(c.temperature * (elite_value - elite_value.max()))
            score /= score.sum()
            mean = (score[None, :, None] * elite_u).sum(axis=1) / (score.sum() + 1e-9)
            std = np.sqrt((score[None, :, None] * (elite_u - mean[:, None]) ** 2).sum(axis=1) / (score.sum() + 1e-9))
            std = np.clip(std, c.min_std, c.max_std).astype(np.float32)
        pick = rng.choice(c.elites, p=score)
        self.prev_mean = mean.astype(np.float32)
        return m.to_physical(np.clip(elite_u[0, pick], -1.0, 1.0))


class RandomActions:
    """Baseline: actions uniform within the manifest's bounds, seeded per episode."""

    def __init__(self, model: OnnxWorldModel):
        self.low, self.high = model.low, model.high
        self.rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def plan(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.low, self.high).astype(np.float32)


class ZeroActions:
    """Baseline: the safe action (zero effort) throughout."""

    def __init__(self, model: OnnxWorldModel):
        self.safe = np.array([a["safe"] for a in model.manifest["action"]], dtype=np.float32)

    def reset(self, rng: np.random.Generator) -> None:
        pass

    def plan(self, obs: np.ndarray) -> np.ndarray:
        return self.safe


class PolicyOnly:
    """The policy prior's mean, for comparison: what the model's actor does without planning."""

    def __init__(self, model: OnnxWorldModel):
        self.m = model

    def reset(self, rng: np.random.Generator) -> None:
        pass

    def plan(self, obs: np.ndarray) -> np.ndarray:
        mean, _ = self.m.policy(self.m.encode(obs[None, :]))
        return np.clip(mean[0], self.m.low, self.m.high)


def run(agent, task: tasks.Task, episodes: int, steps: int, seed0: int) -> dict:
    env = gym.make(task.env_id)
    returns, plan_ms = [], []
    for ep in range(episodes):
        seed = seed0 + ep
        obs, _ = env.reset(seed=seed)
        agent.reset(np.random.default_rng(seed))
        ret = 0.0
        for _ in range(steps):
            t = time.perf_counter()
            a = agent.plan(task.observe(obs))
            plan_ms.append((time.perf_counter() - t) * 1e3)
            obs, r, terminated, truncated, _ = env.step(a.astype(np.float32))
            ret += float(r)
            if terminated or truncated:
                break
        returns.append(ret)
        print(f"episode {ep:2d} (seed {seed:2d}): return {ret:9.2f}", flush=True)
    env.close()
    r = np.array(returns)
    return {
        "returns": [round(x, 3) for x in returns],
        "mean_return": round(float(r.mean()), 2),
        "std_return": round(float(r.std()), 2),
        "min_return": round(float(r.min()), 2),
        "plan_ms_median": round(float(np.median(plan_ms)), 3),
        "plan_ms_p99": round(float(np.percentile(plan_ms, 99)), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=Path("models/pendulum"))
    ap.add_argument("--planner", choices=["mppi", "policy", "random", "zero"], default="mppi")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--steps", type=int, help="steps per episode (default: the task's standard episode)")
    ap.add_argument("--seed", type=int, default=0, help="first episode's seed")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    d = MppiConfig()
    for k, v in asdict(d).items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    ap.add_argument("--json", type=Path, help="also append the result as one JSON line to this file")
    args = ap.parse_args()

    model = OnnxWorldModel(args.model, args.threads)
    task = tasks.get(model.manifest["model"]["name"])
    steps = args.steps or task.episode_steps
    cfg = MppiConfig(**{k: getattr(args, k) for k in asdict(d)})
    if args.planner == "mppi":
        if not 0 < cfg.elites <= cfg.samples - cfg.pi_trajs:
            raise SystemExit("need 0 < elites <= samples - pi_trajs")
        agent = Mppi(model, cfg, np.random.default_rng(args.seed))
    else:
        agent = {"policy": PolicyOnly, "random": RandomActions, "zero": ZeroActions}[args.planner](model)
    t = time.perf_counter()
    result = run(agent, task, args.episodes, steps, args.seed)
    result = {
        "model": str(args.model),
        "env": task.env_id,
        "steps": steps,
        "planner": args.planner,
        **({"mppi": asdict(cfg)} if args.planner == "mppi" else {}),
        "episodes": args.episodes,
        "seeds": f"{args.seed}..{args.seed + args.episodes - 1}",
        "onnxruntime_threads": args.threads,
        **result,
        "wall_s": round(time.perf_counter() - t, 1),
    }
    print(json.dumps(result))
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
