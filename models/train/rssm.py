"""A Dreamer-style recurrent state-space model (RSSM), trained with TD-MPC2's objective.

The state is ``s = [h, z]``: a deterministic part ``h`` (``deter`` wide) carried by a
GRU, and a stochastic part ``z`` of ``groups`` categorical variables of ``classes``
each (DreamerV3's discrete latent).  The two steps are Dreamer's:

* ``img_step`` (the prior, the ``dynamics`` graph):
  ``h' = GRU(h, img_in([z, a]))``, ``z' = prior(h')``;
* ``obs_step`` (the posterior, the ``filter`` graph):
  ``h' = GRU(h, img_in([z, a]))``, ``z' = post([h', embed(o)])``, with the previous
  state and action zeroed where ``is_first`` is 1 (DreamerV3's reset of a new episode).

``z`` is carried as the class probabilities of each group (its expected value, as a
SimNorm latent in TD-MPC2), both while filtering and while imagining: the model is
trained deterministically on them, so the manifest declares ``prior = "mean"``.  The
GRU is DreamerV3's: one ``Linear -> LayerNorm`` of ``[h, x]`` split into reset,
candidate and update gates, the update gate biased by -1.  It is written out of
MatMul, Sigmoid, Tanh, Mul and Sub so every runtime runs it, and Augur's
allocation-free executor lowers it.

Training is TD-MPC2's multi-step objective (``losses.py``) with the encoder replaced by
the filter run along each window: from every filtered state the prior is rolled
``horizon`` steps under the logged actions, with consistency to the (detached)
filtered states, reward, TD value and observation reconstruction losses, and the
policy prior maximises Q on the imagined states.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from losses import RunningScale, Trainer
from world_model import Mish, ScalarHead, SimNorm, mlp


@dataclass
class RssmConfig:
    obs_dim: int
    action_dim: int
    deter: int = 64
    groups: int = 4
    classes: int = 8
    hidden: int = 64
    embed: int = 64
    head_hidden: tuple[int, ...] = (64, 64)
    num_q: int = 2
    reward_scale: float = 10.0
    value_scale: float = 100.0
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    # "dreamer": DreamerV3's GRU written out of MatMul/Sigmoid/Tanh (the MLP executor
    # lowers it); "onnx-gru": torch's nn.GRU, exported as ONNX's GRU op (tract runs it).
    cell: str = "dreamer"
    extra: dict = field(default_factory=dict)

    @property
    def stoch(self) -> int:
        return self.groups * self.classes

    @property
    def latent_dim(self) -> int:
        return self.deter + self.stoch

    def to_dict(self) -> dict:
        return asdict(self) | {"stoch": self.stoch, "latent_dim": self.latent_dim}


class Rssm(nn.Module):
    def __init__(self, cfg: RssmConfig):
        super().__init__()
        self.cfg = cfg
        D, S, A, O, L = cfg.deter, cfg.stoch, cfg.action_dim, cfg.obs_dim, cfg.latent_dim
        self._img_in = nn.Sequential(nn.Linear(S + A, cfg.hidden), nn.LayerNorm(cfg.hidden), Mish())
        if cfg.cell == "onnx-gru":
            self._gru_op = nn.GRU(cfg.hidden, D)
        else:
            self._gru = nn.Linear(D + cfg.hidden, 3 * D)
            self._gru_norm = nn.LayerNorm(3 * D)
        self._embed = mlp(O, (cfg.embed,), cfg.embed)
        self._prior = mlp(D, (cfg.hidden,), S, SimNorm(S, cfg.classes))
        self._post = mlp(D + cfg.embed, (cfg.hidden,), S, SimNorm(S, cfg.classes))
        self._reward = mlp(L + A, cfg.head_hidden, 1)
        self._Qs = nn.ModuleList(mlp(L + A, cfg.head_hidden, 1) for _ in range(cfg.num_q))
        self._pi = mlp(L, cfg.head_hidden, 2 * A)
        self._decoder = mlp(L, (cfg.hidden,), O)
        self._reward_head = ScalarHead(cfg.reward_scale)
        self._value_head = ScalarHead(cfg.value_scale)
        # Broadcasting a [B,1] mask over a row as a MatMul keeps the graph in ops every
        # executor lowers (no implicit broadcast of two batch tensors).
        self.register_buffer("_ones_l", torch.ones(1, L))
        self.register_buffer("_ones_a", torch.ones(1, A))

    # -- the two steps ----------------------------------------------------------------
    def _cell(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        D = self.cfg.deter
        h, z = s[..., :D], s[..., D:]
        x = self._img_in(torch.cat([z, a], dim=-1))
        if self.cfg.cell == "onnx-gru":
            return self._gru_op(x.unsqueeze(0), h.unsqueeze(0).contiguous())[1].squeeze(0)
        parts = self._gru_norm(self._gru(torch.cat([h, x], dim=-1)))
        reset = torch.sigmoid(parts[..., :D])
        cand = torch.tanh(reset * parts[..., D : 2 * D])
        update = torch.sigmoid(parts[..., 2 * D :] - 1.0)
        return update * cand + (1.0 - update) * h

    def img_step(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Prior step: ``s [..., L]``, normalised action ``a`` -> next state."""
        h = self._cell(s, a)
        return torch.cat([h, self._prior(h)], dim=-1)

    def obs_step(self, s: torch.Tensor, a: torch.Tensor, obs: torch.Tensor, is_first: torch.Tensor) -> torch.Tensor:
        """Posterior step: previous state and action (zeroed where ``is_first``), the new
        normalised observation -> filtered state."""
        keep = 1.0 - is_first
        s = s * (keep @ self._ones_l)
        a = a * (keep @ self._ones_a)
        h = self._cell(s, a)
        return torch.cat([h, self._post(torch.cat([h, self._embed(obs)], dim=-1))], dim=-1)

    # -- heads --------------------------------------------------------------------------
    def reward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self._reward_head(self._reward(torch.cat([s, a], dim=-1)))

    def Q(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        sa = torch.cat([s, a], dim=-1)
        return torch.stack([self._value_head(q(sa)) for q in self._Qs])

    def decode(self, s: torch.Tensor) -> torch.Tensor:
        return self._decoder(s)

    def pi_params(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self._pi(s).chunk(2, dim=-1)
        lo, hi = self.cfg.log_std_min, self.cfg.log_std_max
        return mu, lo + 0.5 * (hi - lo) * (torch.tanh(log_std) + 1)

    def pi(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.pi_params(s)
        eps = torch.randn_like(mu)
        pre = mu + eps * log_std.exp()
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.9189385332046727).sum(-1, keepdim=True)
        log_prob = log_prob - (2 * (0.6931471805599453 - pre - F.softplus(-2 * pre))).sum(-1, keepdim=True)
        return torch.tanh(pre), log_prob

    def q_params(self) -> list[nn.Parameter]:
        return [p for q in self._Qs for p in q.parameters()]

    def model_params(self) -> list[nn.Parameter]:
        skip = {id(p) for p in self._pi.parameters()}
        return [p for p in self.parameters() if id(p) not in skip]

    def filter(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Filters a window: ``obs [W,B,O]``, ``act [W-1,B,A]`` (``act[t]`` taken between
        ``obs[t]`` and ``obs[t+1]``) -> states ``[W,B,L]``, ``is_first`` at ``t = 0``."""
        W, B = obs.shape[:2]
        s = obs.new_zeros(B, self.cfg.latent_dim)
        a = obs.new_zeros(B, self.cfg.action_dim)
        first = obs.new_ones(B, 1)
        states = []
        for t in range(W):
            s = self.obs_step(s, a, obs[t], first)
            states.append(s)
            if t + 1 < W:
                a, first = act[t], obs.new_zeros(B, 1)
        return torch.stack(states)


@dataclass
class RssmLossConfig:
    horizon: int = 5
    discount: float = 0.975
    rho: float = 0.5
    start_stride: int = 3  # prior rollouts start from every start_stride-th filtered state
    consistency_coef: float = 20.0
    reward_coef: float = 1.0
    value_coef: float = 1.0
    decoder_coef: float = 1.0
    entropy_coef: float = 1e-4
    tau: float = 0.01
    lr: float = 3e-4
    grad_clip: float = 20.0

    def to_dict(self) -> dict:
        return asdict(self)


class RssmTrainer:
    def __init__(self, model: Rssm, cfg: RssmLossConfig):
        self.model, self.cfg = model, cfg
        self.target = copy.deepcopy(model).requires_grad_(False)
        self.opt = torch.optim.Adam(model.model_params(), lr=cfg.lr)
        self.pi_opt = torch.optim.Adam(model._pi.parameters(), lr=cfg.lr, eps=1e-5)
        self.scale = RunningScale(cfg.tau)
        self.rho = cfg.rho ** torch.arange(cfg.horizon + 1, dtype=torch.float32)

    def set_lr(self, factor: float) -> None:
        self.opt.param_groups[0]["lr"] = self.cfg.lr * factor
        self.pi_opt.param_groups[0]["lr"] = self.cfg.lr * factor

    def update(self, obs: torch.Tensor, act: torch.Tensor, rew: torch.Tensor) -> dict[str, float]:
        """``obs [W,B,O]`` normalised, ``act [W-1,B,A]`` in [-1,1], ``rew [W-1,B,1]``."""
        m, c, mc = self.model, self.cfg, self.model.cfg
        H = c.horizon
        W = obs.shape[0]
        starts = torch.arange(0, W - H, c.start_stride)  # filtered states rolled out from
        states = m.filter(obs, act)  # [W,B,L]
        target_states = states.detach()
        with torch.no_grad():
            a_next, _ = m.pi(target_states[1:])
            td = rew + c.discount * self.target.Q(target_states[1:], a_next).min(0).values  # [W-1,B,1]

        def windows(x: torch.Tensor, j: int) -> torch.Tensor:
            """Rows ``k + j`` for every rollout start ``k``, flattened to ``[starts*B, ...]``."""
            return x[starts + j].reshape(-1, x.shape[-1])

        s = windows(states, 0)
        consistency = reward_loss = value_loss = decoder_loss = torch.zeros(())
        imagined = [s]
        for j in range(H):
            a = windows(act, j)
            r_hat = m.reward(s, a)
            q_hat = m.Q(s, a)
            reward_loss = reward_loss + self.rho[j] * (((r_hat - windows(rew, j)) / mc.reward_scale) ** 2).mean()
            value_loss = value_loss + self.rho[j] * (((q_hat - windows(td, j)) / mc.value_scale) ** 2).mean() * mc.num_q
            decoder_loss = decoder_loss + self.rho[j] * F.mse_loss(m.decode(s), windows(obs, j))
            s = m.img_step(s, a)
            consistency = consistency + self.rho[j] * F.mse_loss(s, windows(target_states, j + 1))
            imagined.append(s)
        decoder_loss = decoder_loss + F.mse_loss(m.decode(states), obs)
        consistency, reward_loss, value_loss, decoder_loss = (x / H for x in (consistency, reward_loss, value_loss, decoder_loss))
        total = c.consistency_coef * consistency + c.reward_coef * reward_loss + c.value_coef * value_loss + c.decoder_coef * decoder_loss
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.opt.param_groups[0]["params"], c.grad_clip)
        self.opt.step()
        pi_loss = self._update_pi(torch.stack(imagined).detach())
        with torch.no_grad():
            torch._foreach_lerp_(self.target.q_params(), m.q_params(), c.tau)
        return {
            "consistency": consistency.item(),
            "reward": reward_loss.item(),
            "value": value_loss.item(),
            "decoder": decoder_loss.item(),
            "pi": pi_loss,
            "total": total.item(),
            "grad_norm": float(grad_norm),
            "q_scale": self.scale.value,
        }

    # TD-MPC2's policy update on the (detached) imagined states, as for the memoryless model.
    _update_pi = Trainer._update_pi
