"""Generate ``models/bench-1m``: a TD-MPC2 "1M"-shaped package with RANDOM weights.

    python models/train/make_bench_1m.py --out models/bench-1m --seed 0

The package costs what a real TD-MPC2 1M model costs to run (latent 128, 384-wide MLPs,
101-bin two-hot reward and value decoded inside the graphs), which is all a latency
benchmark needs; its outputs mean nothing.  Shapes:

* encoder: obs 8 -> 384 -> 384 -> 128 (LayerNorm + SimNorm on the latent);
* dynamics graph: dynamics MLP 129 -> 384 -> 384 -> 128 (LayerNorm + SimNorm) and
  reward MLP 129 -> 384 -> 384 -> 101 bins, ``symexp(softmax . bins)``, bins
  ``linspace(-10, 10, 101)`` in symlog space;
* value graph: mean of 2 Q MLPs (129 -> 384 -> 384 -> 101, decoded the same way) at the
  policy's mean action;
* policy graph: 128 -> 384 -> 384 -> 2 (mean, log-std), action dim 1 in [-1, 1].

Every hidden layer is Linear -> LayerNorm -> Mish.  Weights are PyTorch's default
initialisation after ``torch.manual_seed(seed)``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import onnx_flops
from export import Action, Feature, PackageSpec, export_package
from world_model import ModelConfig, WorldModel

OBS_DIM = 8
H = (384, 384)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("models/bench-1m"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    cfg = ModelConfig(
        obs_dim=OBS_DIM,
        action_dim=1,
        latent_dim=128,
        simnorm_dim=8,
        enc_hidden=H,
        dyn_hidden=H,
        reward_hidden=H,
        q_hidden=H,
        pi_hidden=H,
        num_q=2,
        num_bins=101,
        vmin=-10.0,
        vmax=10.0,
    )
    model = WorldModel(cfg)
    spec = PackageSpec(
        name="bench-1m",
        version="1.0.0",
        description="RANDOM WEIGHTS, benchmarking only: TD-MPC2 1M-shaped model (latent 128, MLPs 384 wide, 101-bin two-hot heads)",
        dt=0.02,
        discount=0.99,
        observations=[Feature(f"obs_{i}", 0.0, 1.0) for i in range(OBS_DIM)],
        actions=[Action("u", -1.0, 1.0, 0.0)],
        comments=[
            "RANDOM WEIGHTS: this package is for latency benchmarks only; its outputs mean nothing.",
            "Written by models/train/make_bench_1m.py; see README.md in this folder.",
        ],
    )
    rng = np.random.default_rng(args.seed)
    inputs = {
        "obs": rng.standard_normal((8, OBS_DIM)).astype(np.float32),
        "action": rng.uniform(-1.0, 1.0, (8, 1)).astype(np.float32),
    }
    check = export_package(model, spec, args.out, inputs)
    flops = onnx_flops.count_package(args.out)
    print("onnxruntime vs PyTorch:", json.dumps({k: v["max_abs_err"] for k, v in check.items()}))
    print(json.dumps({k: {kk: v[kk] for kk in ("flops_per_row", "matmul_flops_per_row", "parameters")} for k, v in flops.items()}, indent=1))


if __name__ == "__main__":
    main()
