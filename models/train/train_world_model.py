"""Train a TD-MPC2-style world model of one task and export it as an Augur package.

    python models/train/train_pendulum.py --out models/pendulum --seed 0
    python models/train/train_reacher.py --out models/reacher --seed 0
    python models/train/train_world_model.py --task reacher --out /tmp/reacher --seed 0

The environment-specific parts (data module, normalisation, manifest description,
reference inputs, head scales, defaults) come from ``tasks.py``; ``train_<task>.py``
are this script with the task fixed, so each package's recorded command stays short.

1. collects the task's gymnasium transitions (its data module), plus a held-out set
   from a different seed for validation;
2. trains encoder, latent dynamics, reward, twin Q and policy prior offline with
   TD-MPC2's multi-step objective (``losses.py``);
3. exports the four graphs, ``manifest.toml`` and ``reference.json``
   (``export.py``), checks them with onnxruntime, and writes ``training.json`` (the
   configuration, timings, final and held-out losses, FLOPs) next to them.

Everything is seeded.  Bit-for-bit reproduction additionally needs the same torch
build, CPU kind and thread count (``--threads``): float reductions in PyTorch's CPU
kernels are split across threads, so other thread counts give slightly different
weights (and, after thousands of steps, slightly different losses).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import onnx_flops
import tasks
from export import export_package
from losses import LossConfig, Trainer
from tasks import Task
from world_model import ModelConfig, WorldModel

HELD_OUT_SEED_OFFSET = 10_000


def parse_args(task: Task, argv: list[str] | None = None) -> argparse.Namespace:
    d = task.defaults
    ap = argparse.ArgumentParser(description=f"Train the TD-MPC2-style {task.name} world model and export it as an Augur package.")
    ap.add_argument("--out", type=Path, required=True, help="package folder to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is as fast for these small nets and degrades gracefully when the cores are shared)")
    ap.add_argument("--segments", type=int, default=d["segments"], help="training segments collected")
    ap.add_argument("--seg-len", type=int, default=d["seg_len"], help="steps per segment")
    ap.add_argument("--val-segments", type=int, default=d["val_segments"])
    ap.add_argument("--steps", type=int, default=d["steps"], help="gradient steps")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--horizon", type=int, default=5, help="training rollout horizon H")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--decay-from", type=float, default=0.75, help="fraction of steps after which the LR decays linearly to 0")
    ap.add_argument(
        "--discount",
        type=float,
        default=d["discount"],
        help="TD-MPC2's heuristic (T/5 - 1)/(T/5) for T-step episodes (pendulum: 0.99 overestimated values more, see its README)",
    )
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64, help="width of the dynamics, reward, Q and policy MLPs")
    ap.add_argument("--enc-hidden", type=int, default=128)
    ap.add_argument("--log-every", type=int, default=1000)
    ap.add_argument("--checkpoint", type=Path, help="also save the PyTorch weights here (not part of the package)")
    ap.add_argument("--bc-coef", type=float, default=0.0, help="TD3+BC weight pulling the policy prior's mean to the logged actions (losses.py)")
    return ap.parse_args(argv)


class Sampler:
    """Draws random length-(H+1) windows from the segments, seeded."""

    def __init__(self, task: Task, data, horizon: int, seed: int):
        self.obs = torch.from_numpy(task.normalise(data.obs))
        self.act = torch.from_numpy(data.act / task.action_half_range)  # networks see actions in [-1, 1]
        self.rew = torch.from_numpy(data.rew).unsqueeze(-1)
        self.H = horizon
        self.gen = torch.Generator().manual_seed(seed)
        n, T = data.act.shape[:2]
        self.n, self.T = n, T
        self.steps = torch.arange(horizon + 1)

    def __call__(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        i = torch.randint(self.n, (batch, 1), generator=self.gen)
        t = torch.randint(self.T - self.H + 1, (batch, 1), generator=self.gen) + self.steps
        obs = self.obs[i, t].transpose(0, 1)  # [H+1, B, O]
        act = self.act[i, t[:, :-1]].transpose(0, 1)  # [H, B, A]
        rew = self.rew[i, t[:, :-1]].transpose(0, 1)  # [H, B, 1]
        return obs.contiguous(), act.contiguous(), rew.contiguous()


@torch.no_grad()
def held_out_metrics(model: WorldModel, task: Task, data, horizon: int) -> dict:
    """Open-loop accuracy on unseen transitions: from ``encode(o_0)`` roll the dynamics
    ``horizon`` steps under the logged actions and compare, at every step, the predicted
    reward with gymnasium's and the predicted latent with ``encode(o_t)``."""
    model.eval()
    obs = torch.from_numpy(task.normalise(data.obs))
    act = torch.from_numpy(data.act / task.action_half_range)
    rew = torch.from_numpy(data.rew)
    n, T = data.act.shape[:2]
    starts = range(0, T - horizon + 1, horizon)
    r_err = np.zeros(horizon)
    r_abs = np.zeros(horizon)
    z_err = np.zeros(horizon)
    count = 0
    for s in starts:
        z = model.encode(obs[:, s])
        for t in range(horizon):
            r = model.reward(z, act[:, s + t]).squeeze(-1)
            r_err[t] += float(((r - rew[:, s + t]) ** 2).mean())
            r_abs[t] += float((r - rew[:, s + t]).abs().mean())
            z = model.next(z, act[:, s + t])
            z_err[t] += float(((z - model.encode(obs[:, s + t + 1])) ** 2).mean())
        count += 1
    # Pendulum's and Reacher's rewards are <= 0, so every state's value is <= 0: a
    # positive value is pure estimation error (offline TD's overestimation).
    v = model.Q(z_all := model.encode(obs.reshape(-1, obs.shape[-1])), torch.tanh(model.pi_params(z_all)[0])).mean(0)
    model.train()
    return {
        "value_max": round(float(v.max()), 3),
        "value_fraction_positive": round(float((v > 0).float().mean()), 4),
        "reward_rmse_by_step": [round(math.sqrt(v / count), 5) for v in r_err],
        "reward_mae_by_step": [round(v / count, 5) for v in r_abs],
        "latent_mse_by_step": [float(f"{v / count:.4g}") for v in z_err],
        "reward_std": round(float(rew.std()), 4),
    }


def main(task_name: str, argv: list[str] | None = None) -> None:
    task = tasks.get(task_name)
    args = parse_args(task, argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    data = task.collect(args.segments, args.seg_len, seed=args.seed)
    val = task.collect(args.val_segments, args.seg_len, seed=args.seed + HELD_OUT_SEED_OFFSET)
    timings["collect_s"] = round(time.perf_counter() - t, 1)
    print(f"collected {data.num_transitions} training + {val.num_transitions} held-out transitions in {timings['collect_s']} s", flush=True)

    mcfg = ModelConfig(
        obs_dim=len(task.obs_names),
        action_dim=len(task.actions),
        latent_dim=args.latent,
        enc_hidden=(args.enc_hidden,),
        dyn_hidden=(args.hidden, args.hidden),
        reward_hidden=(args.hidden, args.hidden),
        q_hidden=(args.hidden, args.hidden),
        pi_hidden=(args.hidden, args.hidden),
        reward_scale=task.reward_scale,
        value_scale=task.value_scale,
    )
    lcfg = LossConfig(horizon=args.horizon, discount=args.discount, lr=args.lr, bc_coef=args.bc_coef)
    model = WorldModel(mcfg)
    trainer = Trainer(model, lcfg)
    sample = Sampler(task, data, args.horizon, seed=args.seed)

    t = time.perf_counter()
    history, window = [], []
    decay_start = int(args.decay_from * args.steps)
    for step in range(1, args.steps + 1):
        if step > decay_start:
            trainer.set_lr((args.steps - step + 1) / (args.steps - decay_start + 1))
        info = trainer.update(*sample(args.batch))
        window.append(info)
        if step % args.log_every == 0 or step == args.steps:
            avg = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            avg = {k: float(f"{v:.5g}") for k, v in avg.items()}
            history.append({"step": step, "elapsed_s": round(time.perf_counter() - t, 1), **avg})
            print(json.dumps(history[-1]), flush=True)
            window = []
    timings["train_s"] = round(time.perf_counter() - t, 1)

    if args.checkpoint:
        torch.save({"model": model.state_dict(), "config": mcfg.to_dict()}, args.checkpoint)
    t = time.perf_counter()
    held_out = held_out_metrics(model, task, val, args.horizon)
    print("held-out:", json.dumps(held_out), flush=True)
    check = export_package(model, task.spec(args.discount, args.horizon), args.out, task.reference_inputs(), strict=False)
    timings["export_s"] = round(time.perf_counter() - t, 1)
    flops = onnx_flops.count_package(args.out)

    log = {
        "command": "python " + " ".join([sys.argv[0].replace(str(Path.cwd()) + "/", "")] + sys.argv[1:]),
        "seed": args.seed,
        "threads": args.threads,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "data": {
            "train_transitions": data.num_transitions,
            "held_out_transitions": val.num_transitions,
            "segments": args.segments,
            "segment_length": args.seg_len,
        },
        "model": mcfg.to_dict(),
        "loss": lcfg.to_dict(),
        "steps": args.steps,
        "batch": args.batch,
        "lr_decay_from": args.decay_from,
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
    print("onnxruntime vs PyTorch (scaled error):", json.dumps({k: v["max_scaled_err"] for k, v in check.items()}))
    print("FLOPs per row:", json.dumps({k: v["flops_per_row"] for k, v in flops.items()}))
    bad = [k for k, v in check.items() if not v["ok"]]
    if bad:
        raise SystemExit(f"onnxruntime does not reproduce reference.json (|a-b|/max(1,|b|) <= 1e-5) for {bad}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--task", required=True, choices=list(tasks.TASKS))
    known, rest = ap.parse_known_args()
    main(known.task, rest)
