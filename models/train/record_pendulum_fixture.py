"""Record gymnasium ``Pendulum-v1`` trajectories as a fixture for Augur's Rust pendulum plant.

    python models/train/record_pendulum_fixture.py --out hil-tests/tests/fixtures/pendulum_gymnasium.json

Five episodes (``env.reset(seed=i)``, i = 0..4) of 200 steps.  Actions are drawn from
``numpy.random.default_rng(1000 + i)`` uniformly in [-3, 3] and rounded to float32
(what an agent hands gymnasium), so the +-2 N.m clip is exercised.  For every step the
fixture holds the unwrapped env's state (theta, theta_dot) before the step, the action,
the observation and reward gymnasium returned, and the state after.

Gymnasium's arithmetic, which a re-implementation must follow to match bit for bit, is
written out in ``notes`` and checked here by ``_replay``, a NumPy transcription that must
reproduce every recorded value exactly before the file is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

NOTES = [
    "state and next_state are gymnasium's float64 state [theta, theta_dot]; theta is NOT wrapped (it accumulates).",
    "observation and initial_observation are float32 values [cos(theta), sin(theta), theta_dot] computed in float64 and rounded to float32; they are written as the exact float32 value.",
    "action is the float32 torque handed to env.step (written exactly); gymnasium clips it to [-2, 2] in float32: u = clip(action, -2, 2).",
    "dynamics, with theta, theta_dot the state before the step: theta_dot' = clip(theta_dot + (15*sin(theta) + f) * 0.05, -8, 8) in float64, where f = 3*u is evaluated in float32 (NumPy 2 keeps python-float * float32 in float32) and then widened; theta' = theta + theta_dot' * 0.05 (the new velocity). g = 10, m = l = 1, dt = 0.05. Following these rules reproduces next_state bit for bit (checked by the generator).",
    "reward is float64: -(angle_normalize(theta)^2 + 0.1*theta_dot^2 + c), c = float32(0.001) * float32(u**2) evaluated in float32 and widened; angle_normalize(x) = ((x + pi) mod 2pi) - pi with a floored modulo (Python/NumPy %, i.e. Rust's rem_euclid, not %). NumPy's scalar float32 u**2 is not always correctly rounded (about 1 in 1400 values differ by 1 ulp from u*u), so a re-implementation using u*u may differ in reward by ~1e-10: see max_abs_diff.",
    "max_abs_diff gives, over all recorded steps, how far two re-implementations land from the recorded values: float32_rules_with_u_times_u (the rules above with u*u) and all_float64 (no float32 anywhere), to choose test tolerances.",
]


def angle_normalize(x):
    return ((x + np.pi) % (2 * np.pi)) - np.pi


def _replay(state: np.ndarray, action: np.float32, mode: str) -> tuple[np.ndarray, float]:
    """Gymnasium's step, transcribed.  ``mode``: ``gymnasium`` (exact), ``u_times_u``
    (float32 rules, correctly rounded square) or ``float64`` (no float32 at all)."""
    th, thdot = float(state[0]), float(state[1])
    if mode == "float64":
        u = float(np.clip(np.float64(action), -2.0, 2.0))
        c, f = 0.001 * (u * u), 3.0 * u
    else:
        u = np.clip(np.float32(action), np.float32(-2.0), np.float32(2.0))
        sq = u**2 if mode == "gymnasium" else u * u
        c, f = float(np.float32(0.001) * sq), float(np.float32(3.0) * u)
    cost = angle_normalize(th) ** 2 + 0.1 * thdot**2 + c
    newthdot = float(np.clip(thdot + (3 * 10.0 / (2 * 1.0) * np.sin(th) + f) * 0.05, -8, 8))
    return np.array([th + newthdot * 0.05, newthdot]), -cost


def _exact32(x) -> list[float]:
    return np.asarray(x, dtype=np.float32).astype(np.float64).tolist()


def record(episodes: int, steps: int) -> dict:
    env = gym.make("Pendulum-v1")
    base = env.unwrapped
    out = []
    worst = {m: {"next_state": 0.0, "reward": 0.0} for m in ("float32_rules_with_u_times_u", "all_float64")}
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        init_state = base.state.copy()
        rng = np.random.default_rng(1000 + ep)
        records = []
        for t in range(steps):
            before = base.state.copy()
            action = np.array([rng.uniform(-3.0, 3.0)], dtype=np.float32)
            o, r, terminated, truncated, _ = env.step(action)
            after = base.state.copy()
            exp_state, exp_r = _replay(before, action[0], "gymnasium")
            if not (np.array_equal(exp_state, after) and exp_r == r):
                raise AssertionError(f"episode {ep} step {t}: transcription disagrees with gymnasium")
            for key, mode in (("float32_rules_with_u_times_u", "u_times_u"), ("all_float64", "float64")):
                s, rr = _replay(before, action[0], mode)
                w = worst[key]
                w["next_state"] = max(w["next_state"], float(np.abs(s - after).max()))
                w["reward"] = max(w["reward"], abs(rr - float(r)))
            records.append(
                {
                    "state": before.tolist(),
                    "action": _exact32(action)[0],
                    "observation": _exact32(o),
                    "reward": float(r),
                    "next_state": after.tolist(),
                }
            )
            if terminated or (truncated and t != steps - 1):
                raise AssertionError("Pendulum-v1 ended early")
        out.append(
            {
                "seed": ep,
                "action_seed": 1000 + ep,
                "initial_state": init_state.tolist(),
                "initial_observation": _exact32(obs),
                "steps": records,
            }
        )
    env.close()
    return {
        "env": {"id": "Pendulum-v1", "g": 10.0, "m": 1.0, "l": 1.0, "dt": 0.05, "max_speed": 8.0, "max_torque": 2.0},
        "generator": "python models/train/record_pendulum_fixture.py --out hil-tests/tests/fixtures/pendulum_gymnasium.json",
        "versions": {"gymnasium": gym.__version__, "numpy": np.__version__},
        "notes": NOTES,
        "max_abs_diff": worst,
        "episodes": out,
    }


def dump(data: dict, path: Path) -> None:
    """JSON with one step per line: diff-friendly and still small."""
    head = {k: v for k, v in data.items() if k != "episodes"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "episodes": [')
    for i, ep in enumerate(data["episodes"]):
        meta = {k: v for k, v in ep.items() if k != "steps"}
        lines.append("    {" + json.dumps(meta)[1:-1] + ', "steps": [')
        steps = [("      " + json.dumps(s, separators=(",", ":"))) for s in ep["steps"]]
        lines.append(",\n".join(steps))
        lines.append("    ]}" + ("," if i < len(data["episodes"]) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    assert json.loads(path.read_text()) == data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("hil-tests/tests/fixtures/pendulum_gymnasium.json"))
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    data = record(args.episodes, args.steps)
    dump(data, args.out)
    print(f"wrote {args.out}: {args.episodes} episodes x {args.steps} steps; re-implementation deviations {data['max_abs_diff']}")


if __name__ == "__main__":
    main()
