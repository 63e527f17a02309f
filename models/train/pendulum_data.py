"""Transitions of gymnasium ``Pendulum-v1``, collected from gymnasium itself.

The model is trained offline, so the data has to cover every state the planner will
visit: all angles, and angular velocities up to the +-8 rad/s limit.  Three kinds of
segment give that coverage:

* *reset starts*: ``env.reset()`` as an agent sees it (angle uniform, velocity in
  [-1, 1]); exploration from there reaches high velocities because actions are held
  for several steps (a held torque pumps energy in, a random one averages out);
* *wide starts*: ``env.reset(options={"y_init": 8.0})``, gymnasium's own option for the
  initial velocity bound, so velocity is uniform in [-8, 8] from the first step;
* *upright starts*: ``env.reset(options={"x_init": 0.5})``, angle within 0.5 rad of
  upright.  A good controller spends most of an episode there, yet random torques
  rarely pass through it slowly; with these segments the closed-loop return of the
  shipped configuration improved from -145.4 to -133.0 (20 episodes, MPPI H3/256/5),
  mostly in the episodes that start near the top.

Actions are piecewise constant, each value held for 1..``max_hold`` steps; a fraction
of them are the torque limits +-2 exactly, since good swing-ups saturate the motor.
Nothing is stored on disk: the data is regenerated from the seed on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

# Observation normalisation written to the manifest; the encoder sees (obs - mean) / std.
OBS_NAMES = ("cos_theta", "sin_theta", "theta_dot")
OBS_MEAN = np.array([0.0, 0.0, 0.0], dtype=np.float32)
OBS_STD = np.array([1.0, 1.0, 8.0], dtype=np.float32)
MAX_TORQUE = 2.0
DT = 0.05


@dataclass
class Segments:
    """Fixed-length trajectory segments.

    obs: ``[N, T+1, 3]`` raw float32 observations; act: ``[N, T, 1]`` torques actually
    applied (N.m, inside [-2, 2]); rew: ``[N, T]`` gymnasium's rewards.
    """

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray

    @property
    def num_transitions(self) -> int:
        return self.act.shape[0] * self.act.shape[1]


def _held_actions(rng: np.random.Generator, length: int, max_hold: int, p_limit: float) -> np.ndarray:
    """A piecewise-constant torque sequence: each value uniform in [-2, 2] (or exactly +-2
    with probability ``p_limit``), held for a uniform 1..max_hold steps."""
    out = np.empty(length, dtype=np.float32)
    t = 0
    while t < length:
        hold = int(rng.integers(1, max_hold + 1))
        if rng.random() < p_limit:
            u = MAX_TORQUE * (1.0 if rng.random() < 0.5 else -1.0)
        else:
            u = rng.uniform(-MAX_TORQUE, MAX_TORQUE)
        out[t : t + hold] = u
        t += hold
    return out


def collect(
    num_segments: int,
    seg_len: int,
    seed: int,
    wide_fraction: float = 0.4,
    upright_fraction: float = 0.2,
    max_hold: int = 8,
    p_limit: float = 0.2,
) -> Segments:
    """Runs ``num_segments`` segments of ``seg_len`` steps in ``Pendulum-v1``.

    Each segment is seeded (``env.reset(seed=seed * 1_000_003 + i)``) so the data set is
    a pure function of ``seed``.
    """
    if not 0 < seg_len <= 200:
        raise ValueError("segments must fit in one Pendulum-v1 episode (200 steps)")
    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(seed)
    obs = np.empty((num_segments, seg_len + 1, 3), dtype=np.float32)
    act = np.empty((num_segments, seg_len, 1), dtype=np.float32)
    rew = np.empty((num_segments, seg_len), dtype=np.float32)
    for i in range(num_segments):
        kind = rng.random()
        if kind < wide_fraction:
            options = {"y_init": 8.0}
        elif kind < wide_fraction + upright_fraction:
            options = {"x_init": 0.5}
        else:
            options = None
        o, _ = env.reset(seed=seed * 1_000_003 + i, options=options)
        obs[i, 0] = o
        actions = _held_actions(rng, seg_len, max_hold, p_limit)
        for t in range(seg_len):
            a = actions[t : t + 1]
            o, r, _, _, _ = env.step(a)
            obs[i, t + 1] = o
            act[i, t, 0] = a[0]
            rew[i, t] = r
    env.close()
    return Segments(obs, act, rew)


def normalise(obs: np.ndarray) -> np.ndarray:
    return ((obs - OBS_MEAN) / OBS_STD).astype(np.float32)
