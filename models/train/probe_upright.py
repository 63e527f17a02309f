"""Where does a pendulum package think "upright and still" is? A probe of each graph near
the balance point, to find the source of a steady tilt (docs/benchmarks.md, control quality).

    python models/train/probe_upright.py --model models/pendulum

For angles θ near 0 (θ̇ = 0) it prints, from the package's ONNX graphs run with onnxruntime:
- the reward head against gymnasium's reward, -(θ² + 0.1 θ̇² + 0.001 u²), at the torque that
  holds the pendulum still there (u = -5 sin θ, the real equilibrium torque);
- the torque the model believes holds it still (the decoded next θ̇ is 0), against -5 sin θ;
- the value graph at that state, and the one-step objective r + γ V(z') maximised over u,
  whose argmax over θ is where a planner using this model would hold the pendulum.
Needs numpy and onnxruntime only.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/pendulum"))
    parser.add_argument("--max-angle", type=float, default=0.12)
    args = parser.parse_args()
    manifest = tomllib.loads((args.model / "manifest.toml").read_text())
    graphs = {k: session(args.model / v["file"]) for k, v in manifest["graphs"].items()}
    mean = np.array([f.get("mean", 0.0) for f in manifest["observation"]], np.float32)
    std = np.array([f.get("std", 1.0) for f in manifest["observation"]], np.float32)
    gamma = manifest["model"]["discount"]

    def encode(theta, theta_dot):
        obs = np.stack([np.cos(theta), np.sin(theta), theta_dot], -1).astype(np.float32)
        return graphs["encoder"].run(None, {"obs": (obs - mean) / std})[0]

    def step(z, u):
        return graphs["dynamics"].run(None, {"z": z, "action": u.reshape(-1, 1).astype(np.float32)})

    def value(z):
        return graphs["value"].run(None, {"z": z})[0][:, 0]

    def decode(z):
        o = graphs["decoder"].run(None, {"z": z})[0] * std + mean
        return np.arctan2(o[:, 1], o[:, 0]), o[:, 2]

    thetas = np.round(np.arange(-args.max_angle, args.max_angle + 1e-9, 0.01), 4)
    torques = np.linspace(-2.0, 2.0, 4001).astype(np.float32)
    print(f"{args.model}: discount {gamma}; θ̇ = 0 everywhere")
    print(f"{'θ':>7} {'u hold':>7} {'r model':>9} {'r true':>9} {'u model':>8} {'V(z)':>8} "
          f"{'argmax_u r+γV':>14} {'max r+γV':>9}")
    best = []
    for theta in thetas:
        z = encode(np.array([theta]), np.array([0.0]))
        u_hold = np.float32(-5.0 * np.sin(theta))
        z1, r = step(z, np.array([u_hold]))
        r_true = -(theta**2 + 0.001 * float(u_hold) ** 2)
        zs = np.repeat(z, len(torques), 0)
        z1s, rs = step(zs, torques)
        _, theta_dot_next = decode(z1s)
        # The torque the model believes keeps θ̇ at 0 (sign change of the decoded θ̇').
        i = int(np.argmin(np.abs(theta_dot_next)))
        objective = rs[:, 0] + gamma * value(z1s)
        k = int(np.argmax(objective))
        best.append((float(objective[k]), theta))
        print(f"{theta:7.3f} {u_hold:7.3f} {float(r[0, 0]):9.5f} {r_true:9.5f} {torques[i]:8.3f} "
              f"{float(value(z)[0]):8.3f} {torques[k]:14.3f} {objective[k]:9.3f}")
    top = max(best)
    print(f"the one-step objective is highest at θ = {top[1]:.3f} rad (true optimum: 0)")


if __name__ == "__main__":
    main()
