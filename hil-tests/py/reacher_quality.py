"""Control quality of Reacher-v5 runs, from the plant files ``reacher_plant.py --out`` writes
(``augur hil`` keeps one per scenario as ``<out>/<scenario>/plant.json``).

    python hil-tests/py/reacher_quality.py target/hil/reacher_nominal/plant.json [more.json ...]

Per file: the mean return over the episodes with a 95 % bootstrap interval, the mean
|Δu| per step (each joint's effort change, averaged over both joints; efforts are in
[-1, 1]), and the steady-state error at the goal: the fingertip's mean distance from the
target over each episode's last 10 steps, in metres (fingertip by forward kinematics of
Reacher-v5's links, 0.1 m and 0.11 m, from the recorded joint angles).
"""

from __future__ import annotations

import json
import sys

import numpy as np

LINKS = (0.1, 0.11)
STEADY_STEPS = 10


def fingertip(q: np.ndarray) -> np.ndarray:
    a, b = q[:, 0], q[:, 0] + q[:, 1]
    return np.stack([LINKS[0] * np.cos(a) + LINKS[1] * np.cos(b), LINKS[0] * np.sin(a) + LINKS[1] * np.sin(b)], -1)


def bootstrap(values: np.ndarray, seed: int = 0, resamples: int = 10_000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def summary(path: str) -> dict:
    with open(path) as fh:
        run = json.load(fh)
    returns = np.array(run["returns"], dtype=float)
    du, errors = [], []
    for e in run["episodes"]:
        u = np.array(e["command"], dtype=float)
        du.extend(np.abs(np.diff(u, axis=0)).mean(1))
        tip = fingertip(np.array(e["q"], dtype=float))
        target = np.array(e["target"], dtype=float)
        errors.append(float(np.linalg.norm(tip - target, axis=1)[-STEADY_STEPS:].mean()))
    low, high = bootstrap(returns)
    return {
        "file": path,
        "episodes": len(returns),
        "mean_return": float(returns.mean()),
        "ci95": [low, high],
        "mean_abs_du": float(np.mean(du)),
        "steady_state_distance_m": float(np.mean(errors)),
    }


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for path in sys.argv[1:]:
        s = summary(path)
        print(
            f"{s['file']}: {s['episodes']} episodes, mean return {s['mean_return']:.3f} "
            f"[{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}], mean |du| {s['mean_abs_du']:.3f} per step, "
            f"final distance {s['steady_state_distance_m'] * 1000:.1f} mm"
        )


if __name__ == "__main__":
    main()
