"""Gymnasium's own start states of ``Pendulum-v1``, for Augur's in-process benches.

    python hil-tests/py/pendulum_starts.py --seeds 300 --out hil-tests/data/pendulum_gymnasium_starts.json
    python hil-tests/py/pendulum_starts.py --seeds 5           # print seeds 0..4 as JSON

``env.reset(seed=i)`` draws the state ``[theta, theta_dot]`` uniformly in
``[-pi, pi] x [-1, 1]`` from NumPy's PCG64 stream; Augur's Rust plant reproduces
gymnasium's steps bit for bit from a state (``hil-tests/tests/pendulum_matches_gymnasium.rs``),
so an episode from one of these states is the episode gymnasium would run after
``reset(seed=i)``. The float64 values are written with ``repr`` (round-trip exact).
"""

from __future__ import annotations

import argparse
import json
import sys

import gymnasium as gym


def starts(count: int) -> list[list[float]]:
    env = gym.make("Pendulum-v1")
    out = []
    for seed in range(count):
        env.reset(seed=seed)
        theta, theta_dot = (float(v) for v in env.unwrapped.state)
        out.append([theta, theta_dot])
    env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=300, help="seeds 0..N-1")
    parser.add_argument("--out", help="write here (default: stdout)")
    args = parser.parse_args()
    document = {
        "source": f"gymnasium {gym.__version__} Pendulum-v1: env.reset(seed=i).unwrapped.state",
        "starts": starts(args.seeds),
    }
    # One start per line: readable in a diff, still plain JSON.
    rows = ",\n  ".join(json.dumps(start) for start in document["starts"])
    text = f'{{\n "source": {json.dumps(document["source"])},\n "starts": [\n  {rows}\n ]\n}}\n'

    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
