"""The environments the training pipeline knows, one ``Task`` each.

A task is everything environment-specific the shared code needs: the gymnasium id,
the data module's collector and normalisation, the manifest's description of
observations and actions, reference inputs for the exporter, the scale of the scalar
heads and the training defaults.  ``train_world_model.py``, ``fit_decoder.py`` and
``evaluate_planner.py`` take a task and are otherwise environment-agnostic; adding a
robot is a data module plus an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from export import Action, Feature, PackageSpec


@dataclass(frozen=True)
class Task:
    name: str
    env_id: str
    episode_steps: int  # the standard episode length the acceptance test runs
    description: str
    dt: float
    obs_names: tuple[str, ...]
    obs_units: tuple[str | None, ...]
    obs_mean: np.ndarray
    obs_std: np.ndarray
    actions: tuple[Action, ...]
    collect: Callable  # (num_segments, seg_len, seed) -> Segments(obs, act, rew)
    observe: Callable[[np.ndarray], np.ndarray]  # gymnasium observation -> model features
    reference_inputs: Callable[[], dict[str, np.ndarray]]
    reward_scale: float  # scalar reward head: graph output = network output * scale
    value_scale: float
    # angle name -> (index of its cos feature, index of its sin feature), for the
    # decoder's angle errors
    angles: dict[str, tuple[int, int]] = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)  # train_world_model.py argument defaults

    def normalise(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self.obs_mean) / self.obs_std).astype(np.float32)

    @property
    def action_half_range(self) -> np.ndarray:
        """Actions are symmetric about 0: the networks see ``action / half_range``."""
        low = np.array([a.low for a in self.actions], dtype=np.float32)
        high = np.array([a.high for a in self.actions], dtype=np.float32)
        if not np.array_equal(low, -high):
            raise ValueError(f"{self.name}: actions must be symmetric about 0")
        return high

    def spec(self, discount: float, horizon: int | None = None) -> PackageSpec:
        return PackageSpec(
            horizon=horizon,
            name=self.name,
            version="1.0.0",
            description=self.description,
            dt=self.dt,
            discount=discount,
            observations=[
                Feature(n, float(m), float(s), unit=u)
                for n, u, m, s in zip(self.obs_names, self.obs_units, self.obs_mean, self.obs_std)
            ],
            actions=list(self.actions),
            comments=[
                "Augur model package: see docs/model-format.md and README.md in this folder.",
                f"Written by models/train/train_{self.name}.py (decoder: models/train/fit_decoder.py); do not edit by hand.",
            ],
        )


def _pendulum() -> Task:
    import pendulum_data as d

    def reference_inputs() -> dict[str, np.ndarray]:
        """Eight hand-picked states (upright, hanging, fast spins) and torques incl. the limits."""
        th = np.array([0.0, np.pi, np.pi / 2, -np.pi / 2, 2.5, -1.0, 0.3, -2.9])
        thd = np.array([0.0, 0.0, 2.0, -2.0, 7.5, -8.0, -3.0, 0.5])
        obs = np.stack([np.cos(th), np.sin(th), thd], axis=1).astype(np.float32)
        action = np.array([[-2.0], [2.0], [0.0], [1.3], [-0.7], [2.0], [-2.0], [0.25]], dtype=np.float32)
        return {"obs": d.normalise(obs), "action": action}

    return Task(
        name="pendulum",
        env_id="Pendulum-v1",
        episode_steps=200,
        description="TD-MPC2-style latent world model of gymnasium Pendulum-v1",
        dt=d.DT,
        obs_names=d.OBS_NAMES,
        obs_units=(None, None, "rad/s"),
        obs_mean=d.OBS_MEAN,
        obs_std=d.OBS_STD,
        actions=(Action("torque", -d.MAX_TORQUE, d.MAX_TORQUE, 0.0, unit="N.m"),),
        collect=d.collect,
        observe=lambda o: np.asarray(o, dtype=np.float32),
        reference_inputs=reference_inputs,
        reward_scale=10.0,
        value_scale=100.0,
        angles={"angle": (0, 1)},
        defaults={"segments": 3000, "seg_len": 64, "val_segments": 300, "steps": 15000, "discount": 0.975},
    )


def _reacher() -> Task:
    import reacher_data as d

    def reference_inputs() -> dict[str, np.ndarray]:
        """Eight states (straight arm, folded elbow, on and off target, fast spins) and
        efforts incl. the limits."""
        q = np.array([[0.0, 0.0], [np.pi, 0.0], [1.0, -2.5], [-2.0, 2.9], [0.5, 1.2], [-0.3, -0.7], [2.8, 0.1], [-1.4, 2.0]])
        qd = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, -3.0], [-20.0, 10.0], [1.0, 0.5], [30.0, -25.0], [-0.5, 0.2], [8.0, 8.0]])
        target = np.array([[0.1, 0.0], [-0.19, 0.02], [0.05, -0.15], [0.0, 0.0], [-0.1, 0.1], [0.14, 0.14], [-0.2, 0.0], [0.03, 0.18]])
        obs = np.concatenate([np.cos(q), np.sin(q), target, qd], axis=1).astype(np.float32)
        action = np.array(
            [[0.0, 0.0], [1.0, -1.0], [-1.0, 1.0], [0.3, 0.1], [-0.05, 0.02], [1.0, 1.0], [-0.6, -1.0], [0.25, -0.4]],
            dtype=np.float32,
        )
        return {"obs": d.normalise(obs), "action": action}

    return Task(
        name="reacher",
        env_id=d.ENV_ID,
        episode_steps=d.EPISODE_STEPS,
        description="TD-MPC2-style latent world model of gymnasium Reacher-v5 (MuJoCo two-link arm)",
        dt=d.DT,
        obs_names=d.OBS_NAMES,
        obs_units=d.OBS_UNITS,
        obs_mean=d.OBS_MEAN,
        obs_std=d.OBS_STD,
        actions=tuple(Action(n, -d.MAX_EFFORT, d.MAX_EFFORT, 0.0) for n in d.ACTION_NAMES),
        collect=d.collect,
        observe=d.observe,
        reference_inputs=reference_inputs,
        reward_scale=1.0,
        value_scale=10.0,
        angles={"q0": (0, 2), "q1": (1, 3)},
        defaults={"segments": 3000, "seg_len": 64, "val_segments": 300, "steps": 15000, "discount": 0.9},
    )


TASKS: dict[str, Callable[[], Task]] = {"pendulum": _pendulum, "reacher": _reacher}


def get(name: str) -> Task:
    if name not in TASKS:
        raise SystemExit(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]()
