"""TD-MPC2's planning loop in PyTorch, on the weights of an Augur ``bench-1m`` package.

Run by hand, not in CI (needs torch and onnx, e.g. the training venv):

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
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models" / "train"))
from world_model import ModelConfig, WorldModel  # noqa: E402

# TD-MPC2's defaults (tdmpc2/config.yaml).
HORIZON, NUM_SAMPLES, NUM_PI_TRAJS, NUM_ELITES, ITERATIONS = 3, 512, 24, 64, 6
TEMPERATURE, MIN_STD, MAX_STD = 0.5, 0.05, 2.0


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


def load_model(package: Path) -> tuple[WorldModel, float]:
    """The torch model with the package's weights, and its max error on reference.json."""
    model = WorldModel(bench_1m_config())
    weights = onnx_weights(package)
    state = model.state_dict()
    missing = [k for k in state if k not in weights]
    if missing:
        raise SystemExit(f"{package}: no ONNX tensor for {missing} (is this a bench-1m package?)")
    model.load_state_dict({k: weights[k] for k in state})
    model.eval()
    ref = json.loads((package / "reference.json").read_text())["graphs"]["dynamics"]
    z = torch.tensor(ref["inputs"]["z"], dtype=torch.float32)
    a = torch.tensor(ref["inputs"]["action"], dtype=torch.float32)
    with torch.no_grad():
        err = max(
            (model.next(z, a) - torch.tensor(ref["outputs"]["z_next"])).abs().max().item(),
            (model.reward(z, a) - torch.tensor(ref["outputs"]["reward"])).abs().max().item(),
        )
    return model, err


class Tdmpc2Planner:
    """``TDMPC2._plan`` and ``_estimate_value``, single task, eval mode."""

    def __init__(self, model: WorldModel, discount: float):
        self.model, self.discount = model, discount
        self.action_dim = model.cfg.action_dim
        self._prev_mean = torch.zeros(HORIZON, self.action_dim)
        self.transitions = 0

    @torch.no_grad()
    def _estimate_value(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        G, discount = 0, 1
        for t in range(HORIZON):
            reward = self.model.reward(z, actions[t])  # two-hot decoded inside the head
            z = self.model.next(z, actions[t])
            self.transitions += z.shape[0]
            G = G + discount * reward
            discount = discount * self.discount
        action, _ = self.model.pi(z)
        return G + discount * self.model.Q(z, action).mean(0)  # return_type='avg'

    @torch.no_grad()
    def plan(self, z: torch.Tensor, t0: bool = False) -> torch.Tensor:
        pi_actions = torch.empty(HORIZON, NUM_PI_TRAJS, self.action_dim)
        _z = z.repeat(NUM_PI_TRAJS, 1)
        for t in range(HORIZON - 1):
            pi_actions[t] = self.model.pi(_z)[0]
            _z = self.model.next(_z, pi_actions[t])
            self.transitions += NUM_PI_TRAJS
        pi_actions[-1] = self.model.pi(_z)[0]

        z = z.repeat(NUM_SAMPLES, 1)
        mean = torch.zeros(HORIZON, self.action_dim)
        std = torch.full((HORIZON, self.action_dim), MAX_STD, dtype=torch.float)
        if not t0:
            mean[:-1] = self._prev_mean[1:]
        actions = torch.empty(HORIZON, NUM_SAMPLES, self.action_dim)
        actions[:, :NUM_PI_TRAJS] = pi_actions

        for _ in range(ITERATIONS):
            r = torch.randn(HORIZON, NUM_SAMPLES - NUM_PI_TRAJS, self.action_dim)
            actions[:, NUM_PI_TRAJS:] = (mean.unsqueeze(1) + std.unsqueeze(1) * r).clamp(-1, 1)
            value = self._estimate_value(z, actions).nan_to_num(0)
            elite_idxs = torch.topk(value.squeeze(1), NUM_ELITES, dim=0).indices
            elite_value, elite_actions = value[elite_idxs], actions[:, elite_idxs]
            max_value = elite_value.max(0).values
            score = torch.exp(TEMPERATURE * (elite_value - max_value))
            score = score / score.sum(0)
            mean = (score.unsqueeze(0) * elite_actions).sum(dim=1) / (score.sum(0) + 1e-9)
            std = ((score.unsqueeze(0) * (elite_actions - mean.unsqueeze(1)) ** 2).sum(dim=1)
                   / (score.sum(0) + 1e-9)).sqrt().clamp(MIN_STD, MAX_STD)

        # math.gumbel_softmax_sample(score): an elite drawn in proportion to its score.
        gumbels = -torch.empty_like(score).exponential_().log()
        rand_idx = ((score.log() + gumbels) / 1.0).argmax(dim=0)
        a = torch.index_select(elite_actions, 1, rand_idx).squeeze(1)[0]
        self._prev_mean.copy_(mean)
        return a.clamp(-1, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=Path("models/bench-1m"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--plans", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, err = load_model(args.model)
    planner = Tdmpc2Planner(model, discount=0.99)
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
