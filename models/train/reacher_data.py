"""Transitions of gymnasium ``Reacher-v5`` (MuJoCo two-link arm), collected from gymnasium itself.

The model sees what the robot's ROS topics give (``/joint_states`` and ``/target``):
the first eight entries of gymnasium's observation, ``cos q0, cos q1, sin q0, sin q1,
target_x, target_y, q0_dot, q1_dot``.  Gymnasium's last two entries, fingertip minus
target, are forward kinematics, which the model has to learn itself (the reward is
``-|fingertip - target| - |a|^2`` after the step).

An offline model has to have seen the states a good controller visits: the fingertip
on the target, slow, under small efforts.  Random efforts spin the arm (|q_dot| up to
~30 rad/s) and almost never stop on a target, so three kinds of segment are mixed:

* *reset starts*: ``env.reset()`` as an agent sees it (arm near straight, target
  uniform in the 0.2 m disc), random held efforts;
* *wide starts*: a uniformly random arm configuration (``q1`` inside the elbow's
  +-3 rad range) and velocity, gymnasium's target, random held efforts;
* *reaching*: a noisy scripted reach (inverse kinematics of the target, a PD law with
  random gains, Gaussian effort noise), from a reset or a wide start, so that the data
  holds approaches, overshoots and the arm settling on the target.

Efforts are piecewise constant, each value held for 1..``max_hold`` steps, uniform in
[-1, 1], exactly at a limit (probability ``p_limit``) or small (probability
``p_small``; a good controller pays ``|a|^2`` and so mostly pushes gently).
Segments run on the unwrapped environment (no 50-step time limit; the dynamics do not
depend on time).  Nothing is stored on disk: the data is regenerated from the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

ENV_ID = "Reacher-v5"
# Observation normalisation written to the manifest; the encoder sees (obs - mean) / std.
OBS_NAMES = ("cos_q0", "cos_q1", "sin_q0", "sin_q1", "target_x", "target_y", "q0_dot", "q1_dot")
OBS_UNITS = (None, None, None, None, "m", "m", "rad/s", "rad/s")
OBS_MEAN = np.zeros(8, dtype=np.float32)
OBS_STD = np.array([1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 10.0, 10.0], dtype=np.float32)
OBS_DIM = len(OBS_NAMES)
ACTION_NAMES = ("effort_joint0", "effort_joint1")
MAX_EFFORT = 1.0
DT = 0.02
EPISODE_STEPS = 50
LINK0, LINK1 = 0.1, 0.11  # joint0 -> joint1, joint1 -> fingertip (reacher.xml)
Q1_LIMIT = 3.0


def observe(gym_obs: np.ndarray) -> np.ndarray:
    """Gymnasium's 10-entry observation -> the model's 8 features (float32)."""
    return np.asarray(gym_obs[:OBS_DIM], dtype=np.float32)


@dataclass
class Segments:
    """Fixed-length trajectory segments.

    obs: ``[N, T+1, 8]`` raw float32 observations; act: ``[N, T, 2]`` efforts applied
    (inside [-1, 1]); rew: ``[N, T]`` gymnasium's rewards.
    """

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray

    @property
    def num_transitions(self) -> int:
        return self.act.shape[0] * self.act.shape[1]


def _held_efforts(rng: np.random.Generator, length: int, max_hold: int, p_limit: float, p_small: float) -> np.ndarray:
    """Piecewise-constant efforts ``[length, 2]``, each joint's value held 1..max_hold steps."""
    out = np.empty((length, 2), dtype=np.float32)
    for j in range(2):
        t = 0
        while t < length:
            hold = int(rng.integers(1, max_hold + 1))
            kind = rng.random()
            if kind < p_limit:
                u = MAX_EFFORT * (1.0 if rng.random() < 0.5 else -1.0)
            elif kind < p_limit + p_small:
                u = rng.normal(0.0, 0.15)
            else:
                u = rng.uniform(-MAX_EFFORT, MAX_EFFORT)
            out[t : t + hold, j] = u
            t += hold
    return np.clip(out, -MAX_EFFORT, MAX_EFFORT)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


class ScriptedReach:
    """A noisy PD reach to the inverse-kinematics solution of the target (one elbow side)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.elbow = 1.0 if rng.random() < 0.5 else -1.0
        self.kp = rng.uniform(0.3, 4.0)
        self.kd = rng.uniform(0.03, 0.25)
        self.noise = rng.uniform(0.0, 0.3)

    def __call__(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        x, y = float(qpos[2]), float(qpos[3])
        r2 = x * x + y * y
        c1 = np.clip((r2 - LINK0**2 - LINK1**2) / (2 * LINK0 * LINK1), -1.0, 1.0)
        q1 = self.elbow * math.acos(c1)
        q0 = math.atan2(y, x) - math.atan2(LINK1 * math.sin(q1), LINK0 + LINK1 * math.cos(q1))
        err = np.array([_wrap(q0 - qpos[0]), q1 - qpos[1]])
        a = self.kp * err - self.kd * qvel[:2] + self.rng.normal(0.0, self.noise, 2)
        return np.clip(a, -MAX_EFFORT, MAX_EFFORT).astype(np.float32)


def _wide_start(env, rng: np.random.Generator, qvel_std: float) -> None:
    """Arm anywhere, moving; the target as gymnasium's reset placed it."""
    qpos = env.data.qpos.copy()
    qvel = env.data.qvel.copy()
    qpos[0] = rng.uniform(-math.pi, math.pi)
    qpos[1] = rng.uniform(-Q1_LIMIT + 0.1, Q1_LIMIT - 0.1)
    qvel[:2] = rng.normal(0.0, qvel_std, 2)
    qvel[2:] = 0.0
    env.set_state(qpos, qvel)


def collect(
    num_segments: int,
    seg_len: int,
    seed: int,
    wide_fraction: float = 0.25,
    reach_fraction: float = 0.5,
    max_hold: int = 4,
    p_limit: float = 0.15,
    p_small: float = 0.3,
    qvel_std: float = 5.0,
) -> Segments:
    """Runs ``num_segments`` segments of ``seg_len`` steps in ``Reacher-v5``.

    Each segment starts with ``env.reset(seed=seed * 1_000_003 + i)`` so the data set is
    a pure function of ``seed``; the kind of segment and its efforts come from a
    generator seeded with ``seed``.
    """
    env = gym.make(ENV_ID).unwrapped  # no TimeLimit: segments may outlast an episode
    rng = np.random.default_rng(seed)
    obs = np.empty((num_segments, seg_len + 1, OBS_DIM), dtype=np.float32)
    act = np.empty((num_segments, seg_len, 2), dtype=np.float32)
    rew = np.empty((num_segments, seg_len), dtype=np.float32)
    for i in range(num_segments):
        kind = rng.random()
        o, _ = env.reset(seed=seed * 1_000_003 + i)
        reach = None
        if kind < wide_fraction:
            _wide_start(env, rng, qvel_std)
            efforts = _held_efforts(rng, seg_len, max_hold, p_limit, p_small)
        else:
            if kind < wide_fraction + reach_fraction and rng.random() < 0.5:
                _wide_start(env, rng, qvel_std)
            if kind < wide_fraction + reach_fraction:
                reach = ScriptedReach(rng)
            else:
                efforts = _held_efforts(rng, seg_len, max_hold, p_limit, p_small)
        o = env._get_obs()
        obs[i, 0] = observe(o)
        for t in range(seg_len):
            a = reach(env.data.qpos, env.data.qvel) if reach is not None else efforts[t]
            o, r, _, _, _ = env.step(a)
            obs[i, t + 1] = observe(o)
            act[i, t] = a
            rew[i, t] = r
    env.close()
    return Segments(obs, act, rew)


def normalise(obs: np.ndarray) -> np.ndarray:
    return ((obs - OBS_MEAN) / OBS_STD).astype(np.float32)
