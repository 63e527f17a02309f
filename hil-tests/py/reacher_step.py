#!/usr/bin/env python3
"""gymnasium ``Reacher-v5`` stepped over a pipe, the reference plant of ``augur eval``.

One JSON object per line on stdin, one reply per line on stdout:

* ``{"reset": SEED}`` -> ``{"obs": [...]}``: ``env.reset(seed=SEED)``;
* ``{"step": [e0, e1]}`` -> ``{"obs": [...], "reward": R}``: ``env.step`` with the
  efforts (clipped to [-1, 1] by the caller);
* ``{"quit": true}`` ends the process.

The observation is the model package's eight features, gymnasium's first eight:
``cos q0, cos q1, sin q0, sin q1, target x, target y, q0_dot, q1_dot`` (the
fingertip-to-target vector that follows is a function of them). An invalid request
gets ``{"error": "..."}`` and the process goes on.
"""

from __future__ import annotations

import json
import sys

import gymnasium as gym
import numpy as np

FEATURES = 8


def main() -> int:
    env = gym.make("Reacher-v5")
    started = False
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if request.get("quit"):
                break
            if "reset" in request:
                obs, _ = env.reset(seed=int(request["reset"]))
                started = True
                reply = {"obs": obs[:FEATURES].tolist()}
            elif "step" in request:
                if not started:
                    raise ValueError("step before reset")
                action = np.asarray(request["step"], dtype=np.float32)
                if action.shape != (2,):
                    raise ValueError(f"expected 2 efforts, got {action.shape}")
                obs, reward, _, _, _ = env.step(action)
                reply = {"obs": obs[:FEATURES].tolist(), "reward": float(reward)}
            else:
                raise ValueError("expected `reset`, `step` or `quit`")
        except Exception as error:  # noqa: BLE001 - every failure goes back to the caller
            reply = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
