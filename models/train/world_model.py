"""TD-MPC2-style latent world model, sized for an on-robot planner.

The architecture follows TD-MPC2 (Hansen, Su & Wang, 2024):

* every hidden layer is ``Linear -> LayerNorm -> Mish``;
* the encoder and the latent dynamics end in ``Linear -> LayerNorm -> SimNorm``, so a
  latent is a concatenation of small probability simplices (bounded, which keeps
  multi-step rollouts from drifting off to large activations);
* reward, the twin Q ensemble and the policy prior are MLPs on the latent;
* the policy is a tanh-squashed Gaussian whose log-std is squashed into
  ``[log_std_min, log_std_max]``.

Two choices differ from TD-MPC2 and are deliberate:

* Mish is written as ``x * tanh(softplus(x))`` so the ONNX export is made of
  Softplus/Tanh/Mul, which every runtime (tract included) implements, rather than a
  ``Mish`` op that opset 17 lacks.
* Heads are either *scalar* (the final Linear's output times a fixed scale, so the
  network works in O(1) units while the graph speaks the task's units) or TD-MPC2's
  *two-hot* discrete regression decoded inside the graph.  The pendulum model is
  trained with scalar heads (its rewards are bounded and known, and the scale makes
  MSE well conditioned); the synthetic ``bench-1m`` package uses two-hot heads so that
  it costs what a real TD-MPC2 1M model costs.

All networks take actions *normalised* to ``[-1, 1]``; conversion from physical units
happens in the export wrappers (``export.py``), so the ONNX graphs speak physical units.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


def mish(x: torch.Tensor) -> torch.Tensor:
    """Mish written out so that it exports as Softplus, Tanh and Mul."""
    return x * torch.tanh(F.softplus(x))


class Mish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mish(x)


class SimNorm(nn.Module):
    """TD-MPC2's simplicial normalisation: softmax over consecutive groups of ``dim``.

    The reshape uses ``-1`` for the leading dimension (never ``x.shape``) so the ONNX
    graph gets constant Reshape targets and the batch stays symbolic.
    """

    def __init__(self, latent_dim: int, dim: int = 8):
        super().__init__()
        if latent_dim % dim:
            raise ValueError(f"latent_dim {latent_dim} is not a multiple of SimNorm dim {dim}")
        self.latent_dim, self.dim = latent_dim, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # the export path: keep the graph free of Shape ops
            return torch.softmax(x.reshape(-1, self.dim), dim=-1).reshape(-1, self.latent_dim)
        lead = x.shape[:-1]
        return torch.softmax(x.reshape(*lead, -1, self.dim), dim=-1).reshape(*lead, self.latent_dim)


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, out_act: nn.Module | None = None) -> nn.Sequential:
    """``[Linear -> LayerNorm -> Mish] * len(hidden)`` then ``Linear`` (+ LayerNorm + ``out_act``).

    As in TD-MPC2, a final activation (SimNorm) is preceded by a LayerNorm.
    """
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.LayerNorm(h), Mish()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    if out_act is not None:
        layers += [nn.LayerNorm(out_dim), out_act]
    return nn.Sequential(*layers)


class ScalarHead(nn.Module):
    """Decodes a 1-wide output to task units by a fixed scale."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class TwoHotHead(nn.Module):
    """TD-MPC2's two-hot decode: ``symexp(softmax(logits) . bins)``, bins uniform in symlog space.

    ``symexp(x) = sign(x) (exp|x| - 1)`` is computed as ``exp(relu(x)) - exp(relu(-x))``,
    which is the same function but needs only Relu/Exp/Neg/Sub in the graph.
    """

    def __init__(self, num_bins: int, vmin: float, vmax: float):
        super().__init__()
        self.register_buffer("bins", torch.linspace(vmin, vmax, num_bins).reshape(num_bins, 1))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        x = torch.softmax(logits, dim=-1) @ self.bins
        return torch.exp(F.relu(x)) - torch.exp(F.relu(-x))


@dataclass
class ModelConfig:
    """Shape and head settings; stored in the training log so a run is self-describing."""

    obs_dim: int
    action_dim: int
    latent_dim: int = 32
    simnorm_dim: int = 8
    enc_hidden: tuple[int, ...] = (128,)
    dyn_hidden: tuple[int, ...] = (64, 64)
    reward_hidden: tuple[int, ...] = (64, 64)
    q_hidden: tuple[int, ...] = (64, 64)
    pi_hidden: tuple[int, ...] = (64, 64)
    num_q: int = 2
    num_bins: int = 0  # 0: scalar heads; >1: two-hot heads with that many bins
    vmin: float = -10.0  # two-hot support in symlog space
    vmax: float = 10.0
    reward_scale: float = 10.0  # scalar heads: graph output = network output * scale
    value_scale: float = 100.0
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class WorldModel(nn.Module):
    """Encoder, latent dynamics, reward, Q ensemble and policy prior (TD-MPC2 layout)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        L, A = cfg.latent_dim, cfg.action_dim
        out = 1 if cfg.num_bins == 0 else cfg.num_bins
        self._encoder = mlp(cfg.obs_dim, cfg.enc_hidden, L, SimNorm(L, cfg.simnorm_dim))
        self._dynamics = mlp(L + A, cfg.dyn_hidden, L, SimNorm(L, cfg.simnorm_dim))
        self._reward = mlp(L + A, cfg.reward_hidden, out)
        self._Qs = nn.ModuleList(mlp(L + A, cfg.q_hidden, out) for _ in range(cfg.num_q))
        self._pi = mlp(L, cfg.pi_hidden, 2 * A)
        if cfg.num_bins == 0:
            self._reward_head: nn.Module = ScalarHead(cfg.reward_scale)
            self._value_head: nn.Module = ScalarHead(cfg.value_scale)
        else:
            self._reward_head = TwoHotHead(cfg.num_bins, cfg.vmin, cfg.vmax)
            self._value_head = TwoHotHead(cfg.num_bins, cfg.vmin, cfg.vmax)

    # -- world model ---------------------------------------------------------------
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Normalised observation -> latent."""
        return self._encoder(obs)

    def next(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Latent dynamics; ``a`` normalised to [-1, 1]."""
        return self._dynamics(torch.cat([z, a], dim=-1))

    def reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Reward of the transition from ``z`` under ``a``, in task units, shape ``[..., 1]``."""
        return self._reward_head(self._reward(torch.cat([z, a], dim=-1)))

    def Q(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """All Q heads, task units, shape ``[num_q, ..., 1]``."""
        za = torch.cat([z, a], dim=-1)
        return torch.stack([self._value_head(q(za)) for q in self._Qs])

    # -- policy prior --------------------------------------------------------------
    def pi_params(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pre-tanh Gaussian mean and log-std (squashed into TD-MPC2's range)."""
        mu, log_std = self._pi(z).chunk(2, dim=-1)
        lo, hi = self.cfg.log_std_min, self.cfg.log_std_max
        log_std = lo + 0.5 * (hi - lo) * (torch.tanh(log_std) + 1)
        return mu, log_std

    def pi(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled action (normalised) and its log-probability (tanh-corrected), as in TD-MPC2."""
        mu, log_std = self.pi_params(z)
        eps = torch.randn_like(mu)
        pre = mu + eps * log_std.exp()
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1, keepdim=True)
        action = torch.tanh(pre)
        # log det of tanh's Jacobian, in the numerically stable form SAC uses.
        log_prob = log_prob - (2 * (math.log(2) - pre - F.softplus(-2 * pre))).sum(-1, keepdim=True)
        return action, log_prob

    def q_params(self) -> list[nn.Parameter]:
        return [p for q in self._Qs for p in q.parameters()]
