"""TD-MPC2's objective, written for offline training on logged transitions.

One update takes a batch of sub-trajectories ``o_0..o_H, a_0..a_{H-1}, r_0..r_{H-1}``
and does what TD-MPC2's ``_update`` does:

1. **TD targets** from the real next observations: ``r_t + gamma * min_i Q_target_i(z'_t, a')``
   with ``z'_t = encode(o_{t+1})`` and ``a' ~ pi(z'_t)`` (no gradient).
2. **Latent rollout** from ``z_0 = encode(o_0)`` through the learned dynamics under the
   logged actions, with three losses summed over the horizon, step ``t`` weighted by
   ``rho**t`` (early steps matter more; later ones still shape the model for
   multi-step planning):
   * *consistency*: ``||dyn(z_t, a_t) - sg(encode(o_{t+1}))||^2``;
   * *reward*: predicted vs. gymnasium's reward;
   * *value*: each Q head vs. the TD target.
   Gradients of all three flow into the encoder and dynamics: the latent is shaped to
   be predictive of reward and value, not to reconstruct observations.
3. **Policy prior**: on the (detached) rollout latents, maximise the ensemble-mean Q of
   a sampled action plus a small entropy bonus, Q normalised by a running 5-95 %
   percentile range (TD-MPC2's ``RunningScale``) so the entropy weight is scale-free.
   Optionally (``bc_coef > 0``, TD3+BC's offline regulariser, Fujimoto & Gu 2021) plus
   ``bc_coef * ||tanh(mu) - a_logged||^2``: where Q barely depends on the action (the
   pendulum balanced upright, where every torque is recoverable) the logged actions'
   mean wins and the prior stops asking for whatever torque Q's noise favours; where Q
   has a clear slope (a swing-up) Q wins.
4. **Target Q** networks track the online ones by Polyak averaging.

Scalar heads are trained by MSE in *scaled* units (the network's pre-scale output), the
analogue of TD-MPC2's scale-free two-hot cross-entropy for a task whose reward range is
known.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from world_model import WorldModel


@dataclass
class LossConfig:
    horizon: int = 5
    discount: float = 0.99
    rho: float = 0.5
    consistency_coef: float = 20.0
    reward_coef: float = 1.0
    value_coef: float = 1.0
    entropy_coef: float = 1e-4
    tau: float = 0.01  # Polyak rate of the target Qs
    lr: float = 3e-4
    enc_lr_scale: float = 0.3
    grad_clip: float = 20.0
    bc_coef: float = 0.0  # TD3+BC weight on the policy mean's distance to the logged action

    def to_dict(self) -> dict:
        return asdict(self)


class RunningScale:
    """Running estimate of the 5th-95th percentile range of Q (floored at 1)."""

    def __init__(self, tau: float):
        self.tau = tau
        self.value = 1.0

    def update(self, q: torch.Tensor) -> None:
        lo, hi = torch.quantile(q.detach().flatten().float(), torch.tensor([0.05, 0.95]))
        self.value += self.tau * (float(hi - lo) - self.value)

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        return q / max(self.value, 1.0)


class Trainer:
    """Owns the model, its target Qs, the optimisers and one TD-MPC2 update."""

    def __init__(self, model: WorldModel, cfg: LossConfig):
        self.model, self.cfg = model, cfg
        self.target = copy.deepcopy(model).requires_grad_(False)
        m = model
        self.opt = torch.optim.Adam(
            [
                {"params": m._encoder.parameters(), "lr": cfg.lr * cfg.enc_lr_scale},
                {"params": list(m._dynamics.parameters()) + list(m._reward.parameters()) + m.q_params()},
            ],
            lr=cfg.lr,
            fused=True,
        )
        self.pi_opt = torch.optim.Adam(m._pi.parameters(), lr=cfg.lr, eps=1e-5, fused=True)
        self.scale = RunningScale(cfg.tau)
        h = torch.arange(cfg.horizon + 1, dtype=torch.float32)
        self.rho = cfg.rho**h  # [H+1]

    def set_lr(self, factor: float) -> None:
        """Scales every learning rate by ``factor`` of its configured value (for decay)."""
        c = self.cfg
        self.opt.param_groups[0]["lr"] = c.lr * c.enc_lr_scale * factor
        self.opt.param_groups[1]["lr"] = c.lr * factor
        self.pi_opt.param_groups[0]["lr"] = c.lr * factor

    def update(self, obs: torch.Tensor, act: torch.Tensor, rew: torch.Tensor) -> dict[str, float]:
        """One step on ``obs [H+1,B,O]`` (normalised), ``act [H,B,A]`` (in [-1,1]), ``rew [H,B,1]``."""
        m, c = self.model, self.cfg
        H = act.shape[0]
        mcfg = m.cfg
        with torch.no_grad():
            next_z = m.encode(obs[1:])
            a_next, _ = m.pi(next_z)
            td = rew + c.discount * self.target.Q(next_z, a_next).min(0).values

        z = m.encode(obs[0])
        zs = [z]
        consistency = torch.zeros(())
        for t in range(H):
            z = m.next(z, act[t])
            consistency = consistency + self.rho[t] * F.mse_loss(z, next_z[t])
            zs.append(z)
        _zs = torch.stack(zs[:-1])
        r_hat = m.reward(_zs, act)
        q_hat = m.Q(_zs, act)  # [num_q, H, B, 1]
        w = self.rho[:H].view(H, 1, 1)
        reward_loss = (w * ((r_hat - rew) / mcfg.reward_scale) ** 2).mean(dim=(1, 2)).sum()
        value_loss = (w * ((q_hat - td) / mcfg.value_scale) ** 2).mean(dim=(2, 3)).sum() / mcfg.num_q
        consistency, reward_loss, value_loss = consistency / H, reward_loss / H, value_loss / H
        total = c.consistency_coef * consistency + c.reward_coef * reward_loss + c.value_coef * value_loss
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for g in self.opt.param_groups for p in g["params"]], c.grad_clip
        )
        self.opt.step()

        pi_loss = self._update_pi(torch.stack(zs).detach(), act)

        with torch.no_grad():
            torch._foreach_lerp_(self.target.q_params(), m.q_params(), c.tau)
        return {
            "consistency": consistency.item(),
            "reward": reward_loss.item(),
            "value": value_loss.item(),
            "pi": pi_loss,
            "total": total.item(),
            "grad_norm": float(grad_norm),
            "q_scale": self.scale.value,
        }

    def _update_pi(self, zs: torch.Tensor, act: torch.Tensor) -> float:
        m, c = self.model, self.cfg
        for p in m.q_params():
            p.requires_grad_(False)
        a, log_p = m.pi(zs)
        q = m.Q(zs, a).mean(0)  # [H+1, B, 1]
        self.scale.update(q[0])
        q = self.scale(q)
        loss = ((c.entropy_coef * log_p - q).mean(dim=(1, 2)) * self.rho).mean()
        if c.bc_coef > 0:
            H = act.shape[0]
            mu, _ = m.pi_params(zs[:H])
            bc = ((torch.tanh(mu) - act) ** 2).sum(-1).mean(-1)  # [H]
            loss = loss + c.bc_coef * (bc * self.rho[:H]).mean()
        self.pi_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m._pi.parameters(), c.grad_clip)
        self.pi_opt.step()
        for p in m.q_params():
            p.requires_grad_(True)
        return float(loss.detach())
