"""TD-MPC2's planning loop in PyTorch, on the weights of an Augur ``bench-1m`` package.

Run by hand, not in CI (needs the training venv, `models/train/requirements.txt`):

    python planner/benches/tdmpc2_reference.py --model models/bench-1m --threads 1

``augur bench-plan models/bench-1m --peer --python <venv>/bin/python`` runs it beside
Augur's MPPI preset in the same invocation.

``plan`` is ``TDMPC2._plan`` (tdmpc2/tdmpc2.py, Hansen et al. 2024) at its default
budget (horizon 3, 512 samples, 24 policy trajectories, 64 elites, 6 iterations,
temperature 0.5, std in [0.05, 2]) in eval mode, single task, not episodic, without
``torch.compile`` (TD-MPC2's default).  The networks are ``models/train/world_model.py``
(the module the package was exported from) with every weight read from the ONNX files
with ``onnx``, so both sides do the same arithmetic; ``reference.json`` is checked
before timing.  The last line printed is JSON for ``augur bench-plan``.

Closed loop (quality per millisecond at equal return, beside ``augur bench-control``):

    python planner/benches/tdmpc2_reference.py --model models/pendulum --closed-loop 100 \
        --json target/tdmpc2-closed-loop.json --against target/bench-control.json

runs the same ``plan`` on the package's trained weights (shapes from its
``training.json``) against gymnasium's own ``Pendulum-v1``, episode ``i`` from
``env.reset(seed=i)`` with torch seeded by ``i``, horizon from the manifest unless
``--horizon`` says otherwise.  Each step is timed from the observation to the action
(encode + plan), as ``bench-control`` times Augur.  Quality is measured as
``hil-tests/src/quality.rs`` measures it (|Δu| while |θ| < 0.2 rad before both commands;
steady state over the last 50 steps of episodes balanced through them).  With
``--against`` (``bench-control --json``'s file, same seeds) it prints, per Augur
variant, the paired return difference with a 95 % bootstrap interval and the ratio of
median step times.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models" / "train"))
from evaluate_planner import MppiConfig as PlanConfig  # noqa: E402  (TD-MPC2's defaults)
from world_model import ModelConfig, WorldModel  # noqa: E402



def bench_1m_config() -> ModelConfig:
    """The shapes of ``models/train/make_bench_1m.py``."""
    h = (384, 384)
    return ModelConfig(obs_dim=8, action_dim=1, latent_dim=128, simnorm_dim=8, enc_hidden=h,
                       dyn_hidden=h, reward_hidden=h, q_hidden=h, pi_hidden=h, num_q=2,
                       num_bins=101, vmin=-10.0, vmax=10.0)


def onnx_weights(package: Path) -> dict[str, torch.Tensor]:
    """Every ``model.*`` tensor of the package's graphs, following Identity aliases."""
    out: dict[str, torch.Tensor] = {}
    for graph in ("encoder", "dynamics", "value", "policy"):
        proto = onnx.load(str(package / f"{graph}.onnx"))
        inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in proto.graph.initializer}
        for node in proto.graph.node:
            if node.op_type == "Identity" and node.input[0] in inits:
                inits[node.output[0]] = inits[node.input[0]]
        out.update({k[len("model."):]: v for k, v in inits.items() if k.startswith("model.")})
    return out


def package_config(package: Path) -> ModelConfig:
    """The shapes the package was trained with (its ``training.json``), else bench-1m's."""
    log = package / "training.json"
    if not log.exists():
        return bench_1m_config()
    cfg = dict(json.loads(log.read_text())["model"])
    for key in ("enc_hidden", "dyn_hidden", "reward_hidden", "q_hidden", "pi_hidden"):
        cfg[key] = tuple(cfg[key])
    return ModelConfig(**cfg)


def manifest(package: Path) -> dict:
    with open(package / "manifest.toml", "rb") as fh:
        return tomllib.load(fh)


def action_scaling(m: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mid, half)``: physical action = mid + half * normalised action."""
    low = torch.tensor([a["low"] for a in m["action"]], dtype=torch.float32)
    high = torch.tensor([a["high"] for a in m["action"]], dtype=torch.float32)
    return (high + low) / 2, (high - low) / 2


def load_model(package: Path) -> tuple[WorldModel, float]:
    """The torch model with the package's weights, and its max error on reference.json."""
    model = WorldModel(package_config(package))
    weights = onnx_weights(package)
    state = model.state_dict()
    missing = [k for k in state if k not in weights]
    if missing:
        raise SystemExit(f"{package}: no ONNX tensor for {missing} (shapes from {package}/training.json)")
    model.load_state_dict({k: weights[k] for k in state})
    model.eval()
    mid, half = action_scaling(manifest(package))
    ref = json.loads((package / "reference.json").read_text())["graphs"]["dynamics"]
    z = torch.tensor(ref["inputs"]["z"], dtype=torch.float32)
    # The graph takes physical actions; the networks take them normalised.
    a = (torch.tensor(ref["inputs"]["action"], dtype=torch.float32) - mid) / half
    with torch.no_grad():
        err = max(
            (model.next(z, a) - torch.tensor(ref["outputs"]["z_next"])).abs().max().item(),
            (model.reward(z, a) - torch.tensor(ref["outputs"]["reward"])).abs().max().item(),
        )
    return model, err


class Tdmpc2Planner:
    """``TDMPC2._plan`` and ``_estimate_value``, single task, eval mode."""

    def __init__(self, model: WorldModel, discount: float, cfg: PlanConfig):
        self.model, self.discount, self.cfg = model, discount, cfg
        self.action_dim = model.cfg.action_dim
        self._prev_mean = torch.zeros(cfg.horizon, self.action_dim)
        self.transitions = 0

    @torch.no_grad()
    def _estimate_value(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        G, discount = 0, 1
        for t in range(self.cfg.horizon):
            reward = self.model.reward(z, actions[t])  # two-hot decoded inside the head
            z = self.model.next(z, actions[t])
            self.transitions += z.shape[0]
            G = G + discount * reward
            discount = discount * self.discount
        action, _ = self.model.pi(z)
        return G + discount * self.model.Q(z, action).mean(0)  # return_type='avg'

    @torch.no_grad()
    def plan(self, z: torch.Tensor, t0: bool = False) -> torch.Tensor:
        c = self.cfg
        pi_actions = torch.empty(c.horizon, c.pi_trajs, self.action_dim)
        _z = z.repeat(c.pi_trajs, 1)
        for t in range(c.horizon - 1):
            pi_actions[t] = self.model.pi(_z)[0]
            _z = self.model.next(_z, pi_actions[t])
            self.transitions += c.pi_trajs
        pi_actions[-1] = self.model.pi(_z)[0]

        z = z.repeat(c.samples, 1)
        mean = torch.zeros(c.horizon, self.action_dim)
        std = torch.full((c.horizon, self.action_dim), c.max_std, dtype=torch.float)
        if not t0:
            mean[:-1] = self._prev_mean[1:]
        actions = torch.empty(c.horizon, c.samples, self.action_dim)
        actions[:, :c.pi_trajs] = pi_actions

        for _ in range(c.iterations):
            r = torch.randn(c.horizon, c.samples - c.pi_trajs, self.action_dim)
            actions[:, c.pi_trajs:] = (mean.unsqueeze(1) + std.unsqueeze(1) * r).clamp(-1, 1)
            value = self._estimate_value(z, actions).nan_to_num(0)
            elite_idxs = torch.topk(value.squeeze(1), c.elites, dim=0).indices
            elite_value, elite_actions = value[elite_idxs], actions[:, elite_idxs]
            max_value = elite_value.max(0).values
            score = torch.exp(c.temperature * (elite_value - max_value))
            score = score / score.sum(0)
            mean = (score.unsqueeze(0) * elite_actions).sum(dim=1) / (score.sum(0) + 1e-9)
            std = ((score.unsqueeze(0) * (elite_actions - mean.unsqueeze(1)) ** 2).sum(dim=1)
                   / (score.sum(0) + 1e-9)).sqrt().clamp(c.min_std, c.max_std)

        # math.gumbel_softmax_sample(score): an elite drawn in proportion to its score.
        gumbels = -torch.empty_like(score).exponential_().log()
        rand_idx = ((score.log() + gumbels) / 1.0).argmax(dim=0)
        a = torch.index_select(elite_actions, 1, rand_idx).squeeze(1)[0]
        self._prev_mean.copy_(mean)
        return a.clamp(-1, 1)


BALANCED, STEADY_STEPS, RESAMPLES = 0.2, 50, 10_000


def angle_normalize(x: float) -> float:
    return ((x + math.pi) % (2 * math.pi)) - math.pi


def episode_quality(seed: int, total: float, theta: list[float], torque: list[float]) -> dict:
    """``hil-tests/src/quality.rs``'s ``EpisodeQuality``: theta[t] is the angle torque[t] saw."""
    bal = [abs(t) < BALANCED for t in theta]
    du = [abs(torque[t] - torque[t - 1]) for t in range(1, len(theta)) if bal[t] and bal[t - 1]]
    tail = range(len(theta) - STEADY_STEPS, len(theta))
    held = len(theta) >= STEADY_STEPS and all(bal[t] for t in tail)
    mean = (lambda f: sum(f(t) for t in tail) / STEADY_STEPS) if held else (lambda f: None)
    return {
        "seed": seed, "total_return": total, "balanced_steps": sum(bal),
        "balanced_du_sum": sum(du), "balanced_du_steps": len(du),
        "steady_state_error": mean(lambda t: abs(theta[t])),
        "steady_state_tilt": mean(lambda t: theta[t]),
        "steady_state_torque": mean(lambda t: torque[t]),
    }


def bootstrap(values: list[float], seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95 % percentile-bootstrap interval."""
    v = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(RESAMPLES, len(v)))].mean(axis=1)
    return float(v.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def closed_loop(args: argparse.Namespace, model: WorldModel, cfg: PlanConfig) -> dict:
    import gymnasium as gym

    m = manifest(args.model)
    if m["model"]["name"] != "pendulum":
        raise SystemExit(f"{args.model}: --closed-loop runs Pendulum-v1 packages, not {m['model']['name']!r}")
    obs_mean = torch.tensor([f["mean"] for f in m["observation"]], dtype=torch.float32)
    obs_std = torch.tensor([f["std"] for f in m["observation"]], dtype=torch.float32)
    mid, half = action_scaling(m)
    planner = Tdmpc2Planner(model, float(m["model"]["discount"]), cfg)
    env = gym.make("Pendulum-v1")
    episodes, times = [], []
    for seed in range(args.first_seed, args.first_seed + args.closed_loop):
        obs, _ = env.reset(seed=seed)
        torch.manual_seed(seed)
        total, theta, torque = 0.0, [], []
        for step in range(200):
            theta.append(angle_normalize(math.atan2(float(obs[1]), float(obs[0]))))
            start = time.perf_counter()
            with torch.no_grad():
                z = model.encode(((torch.from_numpy(obs).float() - obs_mean) / obs_std).unsqueeze(0))
                u = planner.plan(z, t0=step == 0)
            a = (mid + half * u).numpy().astype(np.float32)
            times.append(time.perf_counter() - start)
            torque.append(float(a[0]))
            obs, reward, terminated, truncated, _ = env.step(a)
            total += float(reward)
        episodes.append(episode_quality(seed, total, theta, torque))
        print(f"seed {seed}: return {total:.1f}", file=sys.stderr)
    times.sort()
    returns = [e["total_return"] for e in episodes]
    held = [e for e in episodes if e["steady_state_error"] is not None]
    du_steps = sum(e["balanced_du_steps"] for e in episodes)
    mean, low, high = bootstrap(returns)
    return {
        "planner": "TD-MPC2 plan() in PyTorch",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "config": cfg.__dict__,
        "transitions_per_plan": cfg.iterations * cfg.samples * cfg.horizon + cfg.pi_trajs * (cfg.horizon - 1),
        "mean_return": {"mean": mean, "low": low, "high": high},
        "mean_balanced_du": sum(e["balanced_du_sum"] for e in episodes) / du_steps if du_steps else None,
        "held_episodes": len(held),
        "steady_state_error": statistics.mean(e["steady_state_error"] for e in held) if held else None,
        "steady_state_tilt": statistics.mean(e["steady_state_tilt"] for e in held) if held else None,
        "median_ms": statistics.median(times) * 1e3,
        "p99_ms": times[round((len(times) - 1) * 0.99)] * 1e3,
        "episodes": episodes,
    }


def compare(ours: dict, against: Path) -> None:
    """Paired return differences and time ratios against ``bench-control --json``'s variants."""
    by_seed = {e["seed"]: e["total_return"] for e in ours["episodes"]}
    print(f"TD-MPC2 plan(): return {ours['mean_return']['mean']:.1f} "
          f"[{ours['mean_return']['low']:.1f}, {ours['mean_return']['high']:.1f}], "
          f"|du| bal {ours['mean_balanced_du'] or float('nan'):.3f}, held {ours['held_episodes']}, "
          f"median {ours['median_ms']:.2f} ms per step")
    for variant in json.loads(against.read_text()):
        pairs = [(e["total_return"], by_seed[e["seed"]]) for e in variant["episodes"] if e["seed"] in by_seed]
        if not pairs:
            raise SystemExit(f"{against}: variant {variant['variant']['name']!r} shares no seed with this run")
        diff = bootstrap([a - t for a, t in pairs])
        name = variant["variant"]["name"]
        print(f"Augur {name} ({variant['planner']}, {variant['transitions_per_plan']} transitions): "
              f"return {variant['mean_return']['mean']:.1f}, minus TD-MPC2 on {len(pairs)} paired starts "
              f"{diff[0]:+.1f} [{diff[1]:+.1f}, {diff[2]:+.1f}], median {variant['median_ms']:.2f} ms: "
              f"TD-MPC2 / Augur time {ours['median_ms'] / variant['median_ms']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=Path("models/bench-1m"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--plans", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--closed-loop", type=int, metavar="EPISODES",
                    help="run EPISODES gymnasium Pendulum-v1 episodes instead of timing one latent")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--horizon", type=int, help="default: 3 for timing, the manifest's in closed loop")
    ap.add_argument("--samples", type=int, default=PlanConfig.samples)
    ap.add_argument("--iterations", type=int, default=PlanConfig.iterations)
    ap.add_argument("--json", type=Path, help="closed loop: write the summary and episodes here")
    ap.add_argument("--against", type=Path, help="closed loop: augur bench-control --json output, same seeds")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, err = load_model(args.model)
    if args.closed_loop:
        horizon = args.horizon or int(manifest(args.model)["model"]["horizon"])
        cfg = PlanConfig(horizon=horizon, samples=args.samples, iterations=args.iterations)
        result = closed_loop(args, model, cfg)
        result["max_abs_error"] = err
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        if args.against:
            compare(result, args.against)
        print(json.dumps({k: v for k, v in result.items() if k != "episodes"}))
        return
    cfg = PlanConfig(horizon=args.horizon or PlanConfig.horizon, samples=args.samples, iterations=args.iterations)
    planner = Tdmpc2Planner(model, discount=0.99, cfg=cfg)
    # The same start latent as `augur bench-plan`: the encoder at a fixed pattern.
    obs = torch.tensor([[((i * 0.618034) % 1.0 - 0.5) * 2.0 for i in range(8)]], dtype=torch.float32)
    with torch.no_grad():
        z = model.encode(obs)
    planner.plan(z, t0=True)
    for _ in range(args.warmup):
        planner.plan(z)
    planner.transitions = 0
    samples = []
    for _ in range(args.plans):
        t = time.perf_counter()
        planner.plan(z)
        samples.append(time.perf_counter() - t)
    samples.sort()
    p99 = samples[round((len(samples) - 1) * 0.99)]
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "median_ms": statistics.median(samples) * 1e3,
        "p99_ms": p99 * 1e3,
        "transitions": planner.transitions // args.plans,
        "max_abs_error": err,
    }))


if __name__ == "__main__":
    main()
