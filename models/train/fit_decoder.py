"""Fit a decoder (latent -> observation) to an exported model package, frozen.

    python models/train/fit_decoder.py --package models/pendulum --seed 0
    python models/train/fit_decoder.py --package models/reacher --seed 0

The package's ``encoder.onnx`` and ``dynamics.onnx`` are run with onnxruntime and
never rewritten, so the decoder fits exactly the graphs the runtime executes, and the
other graphs stay byte-identical.

1. collects the task's gymnasium segments with the world model's own data pipeline
   and seeds (the task is the manifest's model name, see ``tasks.py``; training seed
   ``--seed``, held-out seed ``--seed + 10000``, as ``train_world_model.py``);
2. computes the latents the decoder will meet: *encoded* ones, ``encode(o_t)``, and
   *imagined* ones, ``z_{s+k}`` rolled by the dynamics from ``encode(o_s)`` under the
   logged actions for k = 1..``--horizon``, each labelled with the real ``o_{s+k}``;
3. trains a Linear-LayerNorm-Mish MLP ``z -> (o - mean) / std`` (the manifest's
   normalisation; the decoder role outputs *normalised* observations, see
   docs/model-format.md), half of each batch encoded latents, half imagined;
4. adds ``decoder.onnx``, its ``[graphs.decoder]`` and its reference vectors to the
   package (``export.add_graph``), checks the whole package with onnxruntime, and
   records the held-out errors, in observation units, under ``decoder`` in
   ``training.json``.

Everything is seeded; bit-for-bit reproduction needs the same torch build, CPU kind
and ``--threads``, as for ``train_world_model.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

import onnx_flops
import tasks
from export import add_graph
from tasks import Task
from train_world_model import HELD_OUT_SEED_OFFSET
from world_model import mlp
REPORTED_STEPS = (0, 1, 3, 10)  # imagined steps quoted in the model card (0: encoded)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", type=Path, required=True, help="exported package (of a task in tasks.py) to add the decoder to")
    ap.add_argument("--seed", type=int, default=0, help="data seed (the world model's) and decoder initialisation")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--segments", type=int, default=3000, help="training segments collected")
    ap.add_argument("--seg-len", type=int, default=64, help="steps per segment")
    ap.add_argument("--val-segments", type=int, default=300)
    ap.add_argument("--horizon", type=int, default=10, help="imagined latents from 1..H dynamics steps")
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 128], help="decoder hidden widths")
    ap.add_argument("--steps", type=int, default=6000, help="gradient steps")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--decay-from", type=float, default=0.5, help="fraction of steps after which the LR decays linearly to 0")
    ap.add_argument("--log-every", type=int, default=1000)
    return ap.parse_args()


class FrozenGraphs:
    """The package's encoder and dynamics, as onnxruntime runs them (one thread)."""

    def __init__(self, package: Path, manifest: dict):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        graphs = manifest["graphs"]

        def session(role: str) -> ort.InferenceSession:
            return ort.InferenceSession(str(package / graphs[role]["file"]), opts, providers=["CPUExecutionProvider"])

        self.encoder, self.dynamics = session("encoder"), session("dynamics")
        self.enc_in = graphs["encoder"]["inputs"][0]["name"]
        self.dyn_in = [t["name"] for t in graphs["dynamics"]["inputs"]]
        self.dyn_out = graphs["dynamics"]["outputs"][0]["name"]

    def encode(self, obs_norm: np.ndarray) -> np.ndarray:
        return self.encoder.run(None, {self.enc_in: obs_norm})[0]

    def step(self, z: np.ndarray, action: np.ndarray) -> np.ndarray:
        return self.dynamics.run([self.dyn_out], dict(zip(self.dyn_in, (z, action))))[0]


class DecoderData:
    """Latents paired with the normalised observation they should decode to.

    ``z_enc [N*(T+1), L]`` are the encoder's latents of every observation; ``z_img [M, L]``
    the dynamics' latents ``k`` = ``steps[m]`` steps after ``encode(o_s)``, whose real
    observation is ``obs[target[m]]`` (flat index into ``[N*(T+1)]``).
    """

    def __init__(self, graphs: FrozenGraphs, task: Task, data, horizon: int):
        n, t1, o = data.obs.shape
        self.obs = task.normalise(data.obs).reshape(n * t1, o)
        self.z_enc = graphs.encode(self.obs)
        z_enc = self.z_enc.reshape(n, t1, -1)
        rows = np.arange(n) * t1
        z_img, target, steps = [], [], []
        for s in range(t1 - 1):
            z = z_enc[:, s]
            for k in range(1, min(horizon, t1 - 1 - s) + 1):
                z = graphs.step(z, np.ascontiguousarray(data.act[:, s + k - 1]))
                z_img.append(z)
                target.append(rows + s + k)
                steps.append(np.full(n, k, dtype=np.int64))
        self.z_img = np.concatenate(z_img)
        self.target = np.concatenate(target)
        self.steps = np.concatenate(steps)


def train(decoder: torch.nn.Module, data: DecoderData, args: argparse.Namespace) -> list[dict]:
    """Adam on the normalised-observation MSE, half of each batch encoded latents and
    half imagined ones; returns the loss history."""
    gen = torch.Generator().manual_seed(args.seed)
    obs = torch.from_numpy(data.obs)
    z_enc, z_img = torch.from_numpy(data.z_enc), torch.from_numpy(data.z_img)
    target = torch.from_numpy(data.target)
    half = args.batch // 2
    opt = torch.optim.Adam(decoder.parameters(), lr=args.lr)
    decay_start = int(args.decay_from * args.steps)
    history, window, t0 = [], [], time.perf_counter()
    decoder.train()
    for step in range(1, args.steps + 1):
        if step > decay_start:
            for g in opt.param_groups:
                g["lr"] = args.lr * (args.steps - step + 1) / (args.steps - decay_start + 1)
        i = torch.randint(len(z_enc), (half,), generator=gen)
        j = torch.randint(len(z_img), (args.batch - half,), generator=gen)
        loss_enc = F.mse_loss(decoder(z_enc[i]), obs[i])
        loss_img = F.mse_loss(decoder(z_img[j]), obs[target[j]])
        loss = 0.5 * (loss_enc + loss_img)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        window.append((loss_enc.item(), loss_img.item()))
        if step % args.log_every == 0 or step == args.steps:
            enc, img = np.mean(window, axis=0)
            history.append({"step": step, "elapsed_s": round(time.perf_counter() - t0, 1), "encoded_mse": float(f"{enc:.5g}"), "imagined_mse": float(f"{img:.5g}")})
            print(json.dumps(history[-1]), flush=True)
            window = []
    decoder.eval()
    return history


@torch.no_grad()
def held_out_errors(decoder: torch.nn.Module, task: Task, data: DecoderData, horizon: int) -> dict:
    """Per imagined step k (0: the encoder's own latent), the decoder's error against the
    real observation in observation units: RMSE and MAE per feature, and the RMSE of
    each angle ``atan2(sin, cos)`` (wrapped), in rad."""
    std, mean = task.obs_std.astype(np.float64), task.obs_mean.astype(np.float64)

    def angle_rmse(pred: np.ndarray, real: np.ndarray, c: int, s: int) -> float:
        angle = np.angle(np.exp(1j * (np.arctan2(pred[:, s], pred[:, c]) - np.arctan2(real[:, s], real[:, c]))))
        return float(f"{math.sqrt((angle**2).mean()):.4g}")

    def errors(z: np.ndarray, obs_norm: np.ndarray) -> dict:
        pred = decoder(torch.from_numpy(z)).numpy().astype(np.float64) * std + mean
        real = obs_norm.astype(np.float64) * std + mean
        err = pred - real
        return {
            "rows": len(z),
            "rmse": {n: float(f"{math.sqrt(v):.4g}") for n, v in zip(task.obs_names, (err**2).mean(0))},
            "mae": {n: float(f"{v:.4g}") for n, v in zip(task.obs_names, np.abs(err).mean(0))},
            **{f"{a}_rmse_rad": angle_rmse(pred, real, c, s) for a, (c, s) in task.angles.items()},
        }

    by_step = {"0": errors(data.z_enc, data.obs)}
    for k in range(1, horizon + 1):
        m = data.steps == k
        by_step[str(k)] = errors(data.z_img[m], data.obs[data.target[m]])
    return by_step


def reference_latents(package: Path) -> np.ndarray:
    """The latents already in ``reference.json``: the encoder's outputs for its eight
    reference states and the dynamics' next latents from them (one imagined step)."""
    with open(package / "reference.json") as fh:
        graphs = json.load(fh)["graphs"]
    z = graphs["encoder"]["outputs"]["z"] + graphs["dynamics"]["outputs"]["z_next"]
    return np.array(z, dtype=np.float32)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    package = args.package
    with open(package / "manifest.toml", "rb") as fh:
        manifest = tomllib.load(fh)
    task = tasks.get(manifest["model"]["name"])
    names = [f["name"] for f in manifest["observation"]]
    mean = np.array([f["mean"] for f in manifest["observation"]], dtype=np.float32)
    std = np.array([f["std"] for f in manifest["observation"]], dtype=np.float32)
    if names != list(task.obs_names) or not (np.array_equal(mean, task.obs_mean) and np.array_equal(std, task.obs_std)):
        raise SystemExit(f"{package}: its observation normalisation is not the {task.name} task's")
    frozen = {role: sha256(package / manifest["graphs"][role]["file"]) for role in ("encoder", "dynamics")}
    graphs = FrozenGraphs(package, manifest)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    train_set = task.collect(args.segments, args.seg_len, seed=args.seed)
    val_set = task.collect(args.val_segments, args.seg_len, seed=args.seed + HELD_OUT_SEED_OFFSET)
    timings["collect_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    train_data = DecoderData(graphs, task, train_set, args.horizon)
    val_data = DecoderData(graphs, task, val_set, args.horizon)
    timings["latents_s"] = round(time.perf_counter() - t, 1)
    print(
        f"{len(train_data.z_enc)} encoded + {len(train_data.z_img)} imagined training latents, "
        f"{len(val_data.z_enc)} + {len(val_data.z_img)} held out ({timings['collect_s']} s collect, {timings['latents_s']} s latents)",
        flush=True,
    )

    latent_dim, obs_dim = manifest["model"]["latent_dim"], len(names)
    decoder = mlp(latent_dim, tuple(args.hidden), obs_dim)
    t = time.perf_counter()
    history = train(decoder, train_data, args)
    timings["train_s"] = round(time.perf_counter() - t, 1)
    held_out = held_out_errors(decoder, task, val_data, args.horizon)
    for k in REPORTED_STEPS:
        if str(k) in held_out:
            print(f"held-out, {k} imagined steps:", json.dumps(held_out[str(k)]), flush=True)

    t = time.perf_counter()
    spec = task.spec(manifest["model"]["discount"], manifest["model"].get("horizon"))
    check = add_graph(package, "decoder", decoder, spec, {"z": reference_latents(package)}, strict=False)
    timings["export_s"] = round(time.perf_counter() - t, 1)
    if {role: sha256(package / manifest["graphs"][role]["file"]) for role in frozen} != frozen:
        raise SystemExit("the frozen encoder or dynamics graph changed on disk")
    flops = onnx_flops.count_package(package)["decoder"]

    log_path = package / "training.json"
    with open(log_path) as fh:
        log = json.load(fh)
    log["decoder"] = {
        "command": "python " + " ".join([sys.argv[0].replace(str(Path.cwd()) + "/", "")] + sys.argv[1:]),
        "seed": args.seed,
        "threads": args.threads,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__, "onnxruntime": ort.__version__},
        "frozen_sha256": frozen,
        "data": {
            "train_segments": args.segments,
            "held_out_segments": args.val_segments,
            "segment_length": args.seg_len,
            "imagined_horizon": args.horizon,
            "train_latents": {"encoded": len(train_data.z_enc), "imagined": len(train_data.z_img)},
            "held_out_latents": {"encoded": len(val_data.z_enc), "imagined": len(val_data.z_img)},
        },
        "model": {"hidden": args.hidden, "output": "normalised observation (manifest mean/std)"},
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "lr_decay_from": args.decay_from,
        "timings": timings,
        "final_losses": history[-1],
        "history": history,
        "held_out_by_imagined_step": held_out,
        "onnxruntime_vs_pytorch": {k: v for k, v in check.items() if k.startswith("decoder.")},
        "flops": {k: flops[k] for k in ("flops_per_row", "matmul_flops_per_row", "parameters")},
    }
    with open(log_path, "w") as fh:
        json.dump(log, fh, indent=1)
        fh.write("\n")
    print("timings:", json.dumps(timings))
    print("onnxruntime vs PyTorch (scaled error):", json.dumps({k: v["max_scaled_err"] for k, v in check.items()}))
    print("decoder FLOPs per row:", flops["flops_per_row"])
    bad = [k for k, v in check.items() if not v["ok"]]
    if bad:
        raise SystemExit(f"onnxruntime does not reproduce reference.json (|a-b|/max(1,|b|) <= 1e-5) for {bad}")


if __name__ == "__main__":
    main()
