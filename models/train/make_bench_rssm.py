"""Generate ``models/bench-rssm``: a DreamerV3 ``size1m``-shaped RSSM with RANDOM weights.

    python models/train/make_bench_rssm.py --out models/bench-rssm --seed 0

The package costs what DreamerV3's smallest configuration costs to filter and imagine
with (``size1m`` in ``dreamerv3/configs.yaml``: deter 512, hidden 64, 32 categoricals of
4 classes, 64-unit MLPs), which is all a latency benchmark needs; its outputs mean
nothing. It is the network of ``rssm.py`` (DreamerV3's block-free GRU written out of
MatMul/Sigmoid/Tanh, the stochastic part carried as class probabilities) at those
sizes, with observation width 8 and one action in [-1, 1]. Weights are PyTorch's
default initialisation after ``torch.manual_seed(seed)``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import onnx_flops
from export import Action, Feature
from rssm import Rssm, RssmConfig
from train_pendulum_rssm import RecurrentSpec, export

OBS_DIM = 8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("models/bench-rssm"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--gru-op",
        action="store_true",
        help="instead: a tiny RSSM whose GRU is ONNX's GRU op (deter 16, 2x4 stoch), the runtime's test fixture",
    )
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    if args.gru_op:
        cfg = RssmConfig(obs_dim=OBS_DIM, action_dim=1, deter=16, groups=2, classes=4, hidden=16, embed=16, head_hidden=(16,), cell="onnx-gru")
        name, what = "rssm-gru-op", "tiny RSSM whose GRU is ONNX's GRU op (deter 16, hidden 16, 2x4 discrete stoch)"
    else:
        cfg = RssmConfig(obs_dim=OBS_DIM, action_dim=1, deter=512, groups=32, classes=4, hidden=64, embed=64, head_hidden=(64, 64))
        name, what = "bench-rssm", "DreamerV3 size1m-shaped RSSM (deter 512, hidden 64, 32x4 discrete stoch)"
    model = Rssm(cfg)
    spec = RecurrentSpec(
        name=name,
        version="1.0.0",
        description=f"RANDOM WEIGHTS, benchmarking and tests only: {what}",
        dt=0.02,
        discount=0.99,
        observations=[Feature(f"obs_{i}") for i in range(OBS_DIM)],
        actions=[Action("u", -1.0, 1.0, 0.0)],
        comments=[
            "RANDOM WEIGHTS: this package is for latency benchmarks only; its outputs mean nothing.",
            f"Written by models/train/make_bench_rssm.py{' --gru-op' if args.gru_op else ''}; do not edit by hand.",
        ],
    )
    rng = np.random.default_rng(args.seed)
    L = cfg.latent_dim
    with torch.no_grad():
        # Plausible states: a filtered trajectory of random observations from the initial state.
        s = torch.zeros(8, L)
        a = torch.zeros(8, 1)
        first = torch.ones(8, 1)
        for _ in range(5):
            s = model.obs_step(s, a, torch.tensor(rng.standard_normal((8, OBS_DIM)), dtype=torch.float32), first)
            a = torch.tensor(rng.uniform(-1, 1, (8, 1)), dtype=torch.float32)
            first = torch.zeros(8, 1)
    feeds = {
        "z_prev": s,
        "z": s,
        "action_prev": a,
        "action": a,
        "obs": torch.tensor(rng.standard_normal((8, OBS_DIM)), dtype=torch.float32),
        "is_first": torch.tensor([[0.0], [1.0], [0.0], [0.0], [0.0], [0.0], [1.0], [0.0]]),
    }
    check = export(model, cfg, spec, args.out, feeds)
    flops = onnx_flops.count_package(args.out)
    print("onnxruntime vs PyTorch:", json.dumps({k: v["max_abs_err"] for k, v in check.items()}))
    print(json.dumps({k: {kk: v[kk] for kk in ("flops_per_row", "matmul_flops_per_row", "parameters")} for k, v in flops.items()}, indent=1))
    if not all(v["ok"] for v in check.values()):
        raise SystemExit("onnxruntime does not reproduce reference.json")


if __name__ == "__main__":
    main()
