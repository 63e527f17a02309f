#!/usr/bin/env python3
"""Frames of gymnasium's ``Pendulum-v1`` renderer at given states, for the Rust renderer's check.

    python hil-tests/py/pendulum_frames.py OUT.rgb < states.json

``states.json`` is a list of ``[theta, u]`` pairs (``u`` null for a frame as after
``reset``, before any step). For each, the environment's state is set to
``[theta, 0]`` and its ``last_u`` to ``u`` (what ``step`` leaves there: the clipped
torque), and ``env.render()`` (``render_mode="rgb_array"``, 500x500 rgb8) is written to
``OUT.rgb``, frames back to back, rows top to bottom.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    states = json.load(sys.stdin)
    env = gym.make("Pendulum-v1", render_mode="rgb_array")
    env.reset(seed=0)
    inner = env.unwrapped
    with open(sys.argv[1], "wb") as out:
        for theta, u in states:
            inner.state = np.array([theta, 0.0])
            inner.last_u = None if u is None else np.float32(u)
            frame = env.render()
            assert frame.shape == (500, 500, 3) and frame.dtype == np.uint8, frame.shape
            out.write(np.ascontiguousarray(frame).tobytes())
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
