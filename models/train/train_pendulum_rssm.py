"""Train the angle-only pendulum RSSM and export it as a recurrent Augur package.

    python models/train/train_pendulum_rssm.py --out models/pendulum-rssm --seed 0

gymnasium ``Pendulum-v1`` observed through its angle alone (``[cos theta, sin theta]``,
no velocity), so the model has to infer the velocity from the history it filters.

1. collects the same transitions as the full-state pendulum (``pendulum_data.py``)
   and drops the velocity from the observation (it is kept only to measure, on the
   held-out set, how well the filtered state encodes it);
2. trains the RSSM of ``rssm.py`` on windows of ``--window`` steps, each filtered from
   ``is_first`` at its first step;
3. exports ``filter``, ``dynamics``, ``value``, ``policy`` and ``decoder`` graphs,
   ``manifest.toml`` (with its ``[state]`` section) and ``reference.json``, checks them
   with onnxruntime, and writes ``training.json``.

Seeded; bit-for-bit reproduction also needs the same torch build and ``--threads``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import onnx_flops
import pendulum_data
from export import Action, Feature, PackageSpec, _ActionScaling, export_graphs, render_manifest, verify_package
from rssm import Rssm, RssmConfig, RssmLossConfig, RssmTrainer

HELD_OUT_SEED_OFFSET = 10_000
OBS_NAMES = ("cos_theta", "sin_theta")
HALF_RANGE = pendulum_data.MAX_TORQUE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="package folder to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--segments", type=int, default=3000)
    ap.add_argument("--seg-len", type=int, default=64)
    ap.add_argument("--val-segments", type=int, default=300)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--window", type=int, default=12, help="steps filtered per training window")
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--start-stride", type=int, default=3, help="roll the prior out from every n-th filtered state of a window")
    ap.add_argument("--discount", type=float, default=0.975)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--decay-from", type=float, default=0.75)
    ap.add_argument("--deter", type=int, default=64)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--log-every", type=int, default=500)
    ap.add_argument("--checkpoint", type=Path, help="also save the PyTorch weights here (not part of the package)")
    return ap.parse_args(argv)


@dataclass
class Data:
    obs: torch.Tensor  # [N, T+1, 2] normalised (cos, sin)
    act: torch.Tensor  # [N, T, 1] in [-1, 1]
    rew: torch.Tensor  # [N, T, 1]
    theta_dot: torch.Tensor  # [N, T+1] rad/s (held-out measurements only)

    @staticmethod
    def collect(segments: int, seg_len: int, seed: int) -> Data:
        d = pendulum_data.collect(segments, seg_len, seed=seed)
        return Data(
            obs=torch.from_numpy(np.ascontiguousarray(d.obs[..., :2])),
            act=torch.from_numpy(d.act / HALF_RANGE),
            rew=torch.from_numpy(d.rew).unsqueeze(-1),
            theta_dot=torch.from_numpy(d.obs[..., 2].copy()),
        )

    def sample(self, gen: torch.Generator, batch: int, window: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, T = self.act.shape[:2]
        i = torch.randint(n, (batch, 1), generator=gen)
        t = torch.randint(T + 1 - window + 1, (batch, 1), generator=gen) + torch.arange(window)
        obs = self.obs[i, t].transpose(0, 1)
        act = self.act[i, t[:, :-1]].transpose(0, 1)
        rew = self.rew[i, t[:, :-1]].transpose(0, 1)
        return obs.contiguous(), act.contiguous(), rew.contiguous()


@torch.no_grad()
def held_out_metrics(model: Rssm, val: Data, horizon: int) -> dict:
    """On unseen segments filtered from their first step: how well a linear read-out of
    the filtered state gives the velocity the model never sees (R^2 by steps filtered),
    and the open-loop reward and observation errors of the prior from filtered states."""
    model.eval()
    obs = val.obs.transpose(0, 1)  # [T+1, N, 2]
    act = val.act.transpose(0, 1)
    rew = val.rew.transpose(0, 1)
    states = model.filter(obs, act)  # [T+1, N, L]
    T1, N, L = states.shape
    X = torch.cat([states.reshape(-1, L), torch.ones(T1 * N, 1)], dim=1).double()
    y = val.theta_dot.transpose(0, 1).reshape(-1).double()
    coef = torch.linalg.lstsq(X, y).solution
    pred = (X @ coef).reshape(T1, N)
    truth = val.theta_dot.transpose(0, 1).double()
    r2 = [1 - float(((pred[t] - truth[t]) ** 2).mean() / truth[t].var()) for t in range(T1)]
    r_err = np.zeros(horizon)
    o_err = np.zeros(horizon)
    count = 0
    for s0 in range(2, T1 - horizon, horizon):
        s = states[s0]
        for j in range(horizon):
            r = model.reward(s, act[s0 + j])
            r_err[j] += float(((r - rew[s0 + j]) ** 2).mean())
            s = model.img_step(s, act[s0 + j])
            o_err[j] += float(((model.decode(s) - obs[s0 + j + 1]) ** 2).mean())
        count += 1
    model.train()
    return {
        "velocity_r2_by_steps_filtered": [round(v, 4) for v in r2[:8]] + [round(float(np.mean(r2[8:])), 4)],
        "reward_rmse_by_step": [round(math.sqrt(v / count), 5) for v in r_err],
        "obs_rmse_by_step": [round(math.sqrt(v / count), 5) for v in o_err],
        "reward_std": round(float(val.rew.std()), 4),
    }


# -- export -----------------------------------------------------------------------------
class FilterGraph(torch.nn.Module):
    """``z_prev [B,L], action_prev [B,A]`` (physical), ``obs [B,O]``, ``is_first [B,1]`` -> ``z [B,L]``."""

    def __init__(self, model: Rssm, scaling: _ActionScaling):
        super().__init__()
        self.model, self.scaling = model, scaling

    def forward(self, z_prev, action_prev, obs, is_first):
        return self.model.obs_step(z_prev, self.scaling.to_unit(action_prev), obs, is_first)


class DynamicsGraph(torch.nn.Module):
    def __init__(self, model: Rssm, scaling: _ActionScaling):
        super().__init__()
        self.model, self.scaling = model, scaling

    def forward(self, z, action):
        a = self.scaling.to_unit(action)
        return self.model.img_step(z, a), self.model.reward(z, a)


class ValueGraph(torch.nn.Module):
    def __init__(self, model: Rssm, scaling: _ActionScaling):
        super().__init__()
        self.model = model

    def forward(self, z):
        mu, _ = self.model.pi_params(z)
        za = torch.cat([z, torch.tanh(mu)], dim=-1)
        qs = [self.model._value_head(q(za)) for q in self.model._Qs]
        return (qs[0] + qs[1]) * 0.5


class PolicyGraph(torch.nn.Module):
    def __init__(self, model: Rssm, scaling: _ActionScaling):
        super().__init__()
        self.model, self.scaling = model, scaling

    def forward(self, z):
        mu, log_std = self.model.pi_params(z)
        abs_mu = torch.abs(mu)
        log_dtanh = 2.0 * (math.log(2.0) - abs_mu - torch.nn.functional.softplus(-2.0 * abs_mu))
        return self.scaling.to_physical(torch.tanh(mu)), log_std + log_dtanh + self.scaling.log_half


class DecoderGraph(torch.nn.Module):
    def __init__(self, model: Rssm, scaling: _ActionScaling):
        super().__init__()
        self.model = model

    def forward(self, z):
        return self.model.decode(z)


WRAPPERS = {"filter": FilterGraph, "dynamics": DynamicsGraph, "value": ValueGraph, "policy": PolicyGraph, "decoder": DecoderGraph}


class RecurrentSpec(PackageSpec):
    def graph_tensors(self, latent_dim: int):
        O, A, L = len(self.observations), len(self.actions), latent_dim
        return {
            "filter": ([("z_prev", L), ("action_prev", A), ("obs", O), ("is_first", 1)], [("z", L)]),
            "dynamics": ([("z", L), ("action", A)], [("z_next", L), ("reward", 1)]),
            "value": ([("z", L)], [("value", 1)]),
            "policy": ([("z", L)], [("mean", A), ("log_std", A)]),
            "decoder": ([("z", L)], [("obs", O)]),
        }


def manifest_text(spec: RecurrentSpec, cfg: RssmConfig) -> str:
    text = render_manifest(spec, cfg.latent_dim, roles=tuple(WRAPPERS))
    state = "\n".join(
        [
            "[state]",
            f"# The latent is [deter, stoch]: a GRU state and {cfg.groups} categoricals of {cfg.classes} classes,",
            "# carried as class probabilities (their expected value) when filtering and imagining.",
            f"deter = {cfg.deter}",
            f"stoch = {{ groups = {cfg.groups}, classes = {cfg.classes} }}",
            'prior = "mean"',
            "",
            "",
        ]
    )
    at = text.index("[graphs.")
    return text[:at] + state + text[at:]


def reference_inputs(model: Rssm, val: Data) -> dict[str, torch.Tensor]:
    """Eight real filtered states (from held-out segments, 0 to 20 steps in), torques
    including the limits, and ``is_first`` set on two rows."""
    with torch.no_grad():
        obs = val.obs[:8].transpose(0, 1)
        act = val.act[:8].transpose(0, 1)
        states = model.filter(obs[:24], act[:23])
    steps = [0, 3, 7, 12, 20, 1, 15, 9]
    z_prev = torch.stack([states[t, i] for i, t in enumerate(steps)])
    obs_now = torch.stack([val.obs[i, t + 1] for i, t in enumerate(steps)])
    action = torch.tensor([[-2.0], [2.0], [0.0], [1.3], [-0.7], [2.0], [-2.0], [0.25]])
    is_first = torch.tensor([[0.0], [0.0], [1.0], [0.0], [0.0], [0.0], [1.0], [0.0]])
    return {"z_prev": z_prev, "action_prev": action, "obs": obs_now, "is_first": is_first, "z": z_prev, "action": action}


def pendulum_spec(discount: float, horizon: int) -> RecurrentSpec:
    return RecurrentSpec(
        name="pendulum-rssm",
        version="1.0.0",
        description="Dreamer-style RSSM of gymnasium Pendulum-v1 observed through its angle only",
        dt=pendulum_data.DT,
        discount=discount,
        horizon=horizon,
        observations=[Feature(n) for n in OBS_NAMES],
        actions=[Action("torque", -HALF_RANGE, HALF_RANGE, 0.0, unit="N.m")],
        comments=[
            "Augur model package: see docs/model-format.md and README.md in this folder.",
            "Written by models/train/train_pendulum_rssm.py; do not edit by hand.",
        ],
    )


def export(model: Rssm, cfg: RssmConfig, spec: RecurrentSpec, out: Path, feeds: dict) -> dict:
    """Writes the five graphs, ``manifest.toml`` and ``reference.json`` (PyTorch's
    outputs for ``feeds``) into ``out`` and checks them with onnxruntime."""
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    low = np.array([a.low for a in spec.actions], np.float32)
    high = np.array([a.high for a in spec.actions], np.float32)
    scaling = _ActionScaling(low, high)
    export_graphs(model, scaling, WRAPPERS, spec.graph_tensors(cfg.latent_dim), feeds, out)
    (out / "manifest.toml").write_text(manifest_text(spec, cfg))
    return verify_package(out, strict=False)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    data = Data.collect(args.segments, args.seg_len, args.seed)
    val = Data.collect(args.val_segments, args.seg_len, args.seed + HELD_OUT_SEED_OFFSET)
    timings["collect_s"] = round(time.perf_counter() - t, 1)
    print(f"collected {data.act.shape[0] * data.act.shape[1]} training transitions in {timings['collect_s']} s", flush=True)

    cfg = RssmConfig(obs_dim=2, action_dim=1, deter=args.deter, groups=args.groups, classes=args.classes)
    lcfg = RssmLossConfig(horizon=args.horizon, discount=args.discount, lr=args.lr, start_stride=args.start_stride)
    model = Rssm(cfg)
    trainer = RssmTrainer(model, lcfg)
    gen = torch.Generator().manual_seed(args.seed)

    t = time.perf_counter()
    history, window = [], []
    decay_start = int(args.decay_from * args.steps)
    for step in range(1, args.steps + 1):
        if step > decay_start:
            trainer.set_lr((args.steps - step + 1) / (args.steps - decay_start + 1))
        window.append(trainer.update(*data.sample(gen, args.batch, args.window)))
        if step % args.log_every == 0 or step == args.steps:
            avg = {k: float(f"{np.mean([w[k] for w in window]):.5g}") for k in window[0]}
            history.append({"step": step, "elapsed_s": round(time.perf_counter() - t, 1), **avg})
            print(json.dumps(history[-1]), flush=True)
            window = []
    timings["train_s"] = round(time.perf_counter() - t, 1)
    if args.checkpoint:
        torch.save({"model": model.state_dict(), "config": cfg.to_dict()}, args.checkpoint)

    held_out = held_out_metrics(model, val, args.horizon)
    print("held-out:", json.dumps(held_out), flush=True)
    t = time.perf_counter()
    check = export(model, cfg, pendulum_spec(args.discount, args.horizon), args.out, reference_inputs(model, val))
    timings["export_s"] = round(time.perf_counter() - t, 1)
    flops = onnx_flops.count_package(args.out)
    log = {
        "command": "python " + " ".join([sys.argv[0].replace(str(Path.cwd()) + "/", "")] + sys.argv[1:]),
        "seed": args.seed,
        "threads": args.threads,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "data": {"segments": args.segments, "segment_length": args.seg_len, "window": args.window},
        "model": cfg.to_dict(),
        "loss": lcfg.to_dict(),
        "steps": args.steps,
        "batch": args.batch,
        "timings": timings,
        "final_losses": history[-1],
        "history": history,
        "held_out": held_out,
        "onnxruntime_vs_pytorch": check,
        "flops": {k: {kk: v[kk] for kk in ("flops_per_row", "matmul_flops_per_row", "parameters")} for k, v in flops.items()},
    }
    with open(args.out / "training.json", "w") as fh:
        json.dump(log, fh, indent=1)
        fh.write("\n")
    print("timings:", json.dumps(timings))
    bad = [k for k, v in check.items() if not v["ok"]]
    if bad:
        raise SystemExit(f"onnxruntime does not reproduce reference.json for {bad}")


if __name__ == "__main__":
    main()
