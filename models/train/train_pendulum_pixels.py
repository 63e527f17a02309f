"""Train the pixel pendulum model (``models/pendulum-pixels``) from gymnasium's own frames.

    python models/train/train_pendulum_pixels.py --out models/pendulum-pixels --seed 0

The package sees only camera frames: ``Pendulum-v1`` rendered by gymnasium's renderer
(``render_mode="rgb_array"``, 500x500 rgb8, pygame), made grey and area-resampled to
64x64 exactly as Augur's runtime does it (``preprocess`` below is the same arithmetic
as ``runtime/src/control/image``), three frames stacked, newest last, and normalised
``x / 255 - 0.5`` as TD-MPC2's ``PixelPreprocess``.

Training is *privileged-state distillation* (asymmetric training, as in "learning by
cheating" and asymmetric actor-critic work): the convolutional encoder (TD-MPC2's, four
convolutions of 32 channels, 7x7/5x5/3x3/3x3, then the state encoder's
``Linear -> LayerNorm -> Mish -> Linear -> LayerNorm -> SimNorm`` head) is fitted to map a
frame stack to the latent that the shipped state model's encoder gives the true state
of the newest frame. The latent dynamics, reward, value and policy are the state
model's (``models/pendulum``), copied byte for byte: they were trained by TD-MPC2's
losses on the same environment, and a latent that matches theirs plans as well as the
state model does. The velocity is not given: the encoder reads it from the stack.

Then a decoder (latent -> the newest 64x64 frame) is fitted on the same data, so the
node can show what the planner imagines (``~/imagined``).

Everything is seeded; one torch thread. Writes encoder.onnx, decoder.onnx, the three
copied graphs, manifest.toml, reference.json and training.json.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime as ort
import torch
from torch import nn

import onnx

from export import _exact
from world_model import Mish, SimNorm

HEIGHT = WIDTH = 64
FRAMES = 3
SCALE = 1.0 / 255.0
OFFSET = -0.5
# ITU-R BT.601 luma, as the runtime's rgb -> grey conversion.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
STATE_PACKAGE = Path(__file__).resolve().parents[1] / "pendulum"
OBS_STD = np.array([1.0, 1.0, 8.0], dtype=np.float32)
COPIED = ("dynamics", "value", "policy")


def area_weights(src: int, dst: int) -> np.ndarray:
    """``[dst, src]``: output pixel ``i`` averages the source interval
    ``[i * src / dst, (i + 1) * src / dst)``, each source pixel weighted by its overlap."""
    w = np.zeros((dst, src), dtype=np.float64)
    s = src / dst
    for i in range(dst):
        lo, hi = i * s, (i + 1) * s
        for j in range(int(math.floor(lo)), min(src, int(math.ceil(hi)))):
            w[i, j] = (min(hi, j + 1) - max(lo, j)) / s
    return w.astype(np.float32)


class Preprocess:
    """rgb8 frame -> grey, area-resampled, normalised ``[HEIGHT, WIDTH]`` float32."""

    def __init__(self, src_h: int, src_w: int):
        self.wy = area_weights(src_h, HEIGHT)
        self.wx = area_weights(src_w, WIDTH)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        grey = rgb.astype(np.float32) @ LUMA
        return (self.wy @ grey @ self.wx.T) * np.float32(SCALE) + np.float32(OFFSET)


def held_actions(rng: np.random.Generator, length: int, max_hold: int = 8, p_limit: float = 0.2) -> np.ndarray:
    out = np.empty(length, dtype=np.float32)
    t = 0
    while t < length:
        value = rng.choice([-2.0, 2.0]) if rng.random() < p_limit else rng.uniform(-2.0, 2.0)
        hold = int(rng.integers(1, max_hold + 1))
        out[t : t + hold] = value
        t += hold
    return out


def collect(episodes: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame stacks ``[N, FRAMES, H, W]``, the true observations of their newest frames
    ``[N, 3]`` and the newest frames' last torques ``[N]``.

    Starts as ``pendulum_data.py``'s segments (gymnasium's resets, wide velocity,
    near upright), held piecewise-constant torques. An episode's first frames are
    stacked with its first frame repeated, as the runtime's frame stack starts.
    """
    env = gym.make("Pendulum-v1", render_mode="rgb_array")
    rng = np.random.default_rng(seed)
    pre = None
    stacks, states, torques = [], [], []
    for i in range(episodes):
        kind = rng.random()
        options = {"y_init": 8.0} if kind < 0.4 else {"x_init": 0.5} if kind < 0.7 else None
        o, _ = env.reset(seed=seed * 1_000_003 + i, options=options)
        frame = env.render()
        if pre is None:
            pre = Preprocess(*frame.shape[:2])
        frames = [pre(frame)] * FRAMES
        obs, last = [o], [0.0]
        stacks.append(np.stack(frames))
        actions = held_actions(rng, length)
        for t in range(length):
            o, _, _, _, _ = env.step(actions[t : t + 1])
            frames = frames[1:] + [pre(env.render())]
            stacks.append(np.stack(frames))
            obs.append(o)
            last.append(float(actions[t]))
        states.extend(obs)
        torques.extend(last)
        if (i + 1) % 100 == 0:
            print(f"  collected {i + 1}/{episodes} episodes", flush=True)
    env.close()
    return np.stack(stacks).astype(np.float32), np.asarray(states, np.float32), np.asarray(torques, np.float32)


class PixelEncoder(nn.Module):
    """TD-MPC2's convolutional encoder with the state encoder's head."""

    def __init__(self, latent_dim: int, channels: int = 32):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(FRAMES, channels, 7, stride=2), nn.ReLU(),
            nn.Conv2d(channels, channels, 5, stride=2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1), nn.Flatten(),
        )
        with torch.no_grad():
            width = self.conv(torch.zeros(1, FRAMES, HEIGHT, WIDTH)).shape[1]
        self.head = nn.Sequential(
            nn.Linear(width, 256), nn.LayerNorm(256), Mish(),
            nn.Linear(256, latent_dim), nn.LayerNorm(latent_dim), SimNorm(latent_dim),
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(pixels))


class FrameDecoder(nn.Module):
    """Latent -> the newest frame, normalised, ``[B, 1, H, W]``: an MLP to 16 maps of
    8x8, then three transposed convolutions doubling the size."""

    def __init__(self, latent_dim: int, channels: int = 16):
        super().__init__()
        self.channels = channels
        self.mlp = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.LayerNorm(256), Mish(),
            nn.Linear(256, channels * 8 * 8), Mish(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(channels, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.mlp(z).reshape(-1, self.channels, 8, 8))


def fit(module: nn.Module, inputs: np.ndarray, targets: np.ndarray, steps: int, batch: int, lr: float, seed: int, name: str, log: list) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
    n = x_all.shape[0]
    started = time.time()
    module.train()
    for step in range(1, steps + 1):
        idx = torch.randint(0, n, (batch,), generator=gen)
        loss = ((module(x_all[idx]) - y_all[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == steps:
            elapsed = time.time() - started
            print(f"  {name} step {step}/{steps} loss {loss.item():.6f} ({elapsed:.0f} s)", flush=True)
            log.append({"model": name, "step": step, "loss": loss.item(), "seconds": round(elapsed, 1)})
    module.eval()


def export_graph(module: nn.Module, inputs: list[tuple[str, torch.Tensor]], outputs: list[tuple[str, tuple[int, ...]]], path: Path) -> None:
    """ONNX opset 17, batch axis ``B``, every other dimension fixed (any rank)."""
    names_in = [n for n, _ in inputs]
    names_out = [n for n, _ in outputs]
    torch.onnx.export(
        module, tuple(t for _, t in inputs), str(path), dynamo=False, opset_version=17,
        input_names=names_in, output_names=names_out,
        dynamic_axes={n: {0: "B"} for n in names_in + names_out}, do_constant_folding=True,
    )
    model = onnx.load(str(path))
    shapes = {n: tuple(t.shape[1:]) for n, t in inputs} | dict(outputs)
    for vi in list(model.graph.input) + list(model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        dims[0].Clear()
        dims[0].dim_param = "B"
        for d, size in zip(dims[1:], shapes[vi.name]):
            d.Clear()
            d.dim_value = size
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def run_onnx(path: Path, feeds: dict) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]).run(None, feeds)


def manifest_text(state: dict) -> str:
    m = state["model"]
    lines = [
        "# Augur model package: see docs/model-format.md and README.md in this folder.",
        "# Written by models/train/train_pendulum_pixels.py; do not edit by hand.",
        "format = 1",
        "",
        "[model]",
        'name = "pendulum-pixels"',
        'version = "1.0.0"',
        'description = "Pendulum-v1 from gymnasium\'s rendered frames: a conv encoder distilled onto the pendulum model\'s latent"',
        f"dt = {m['dt']}",
        f"latent_dim = {m['latent_dim']}",
        f"discount = {m['discount']}",
        f"horizon = {m['horizon']}",
        "",
        "[[image]]",
        'name = "pixels"',
        f"height = {HEIGHT}",
        f"width = {WIDTH}",
        'channels = "gray"',
        f"frames = {FRAMES}",
        f"scale = {SCALE!r}",
        f"offset = {OFFSET!r}",
        "",
    ]
    for a in state["action"]:
        lines += ["[[action]]", f'name = "{a["name"]}"', f'unit = "{a["unit"]}"', f"low = {a['low']}", f"high = {a['high']}", f"safe = {a['safe']}", ""]
    L = m["latent_dim"]
    lines += [
        "[graphs.encoder]",
        'file = "encoder.onnx"',
        f'inputs = [{{ name = "pixels", shape = ["B", {FRAMES}, {HEIGHT}, {WIDTH}] }}]',
        f'outputs = [{{ name = "z", shape = ["B", {L}] }}]',
        "",
    ]
    for role in COPIED:
        g = state["graphs"][role]
        fmt = lambda ts: ", ".join(f'{{ name = "{t["name"]}", shape = ["B", {t["shape"][1]}] }}' for t in ts)
        lines += [f"[graphs.{role}]", f'file = "{role}.onnx"', f"inputs = [{fmt(g['inputs'])}]", f"outputs = [{fmt(g['outputs'])}]", ""]
    lines += [
        "[graphs.decoder]",
        'file = "decoder.onnx"',
        f'inputs = [{{ name = "z", shape = ["B", {L}] }}]',
        f'outputs = [{{ name = "pixels", shape = ["B", 1, {HEIGHT}, {WIDTH}] }}]',
        "",
        "[reference]",
        'file = "reference.json"',
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    import tomllib

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--episodes", type=int, default=1500)
    p.add_argument("--length", type=int, default=40)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--decoder-steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    started = time.time()

    print(f"rendering {args.episodes} episodes of {args.length} steps with gymnasium", flush=True)
    stacks, states, torques = collect(args.episodes, args.length, args.seed)
    render_seconds = time.time() - started
    print(f"  {len(stacks)} frame stacks in {render_seconds:.0f} s", flush=True)
    z_teacher = run_onnx(STATE_PACKAGE / "encoder.onnx", {"obs": states / OBS_STD})[0].astype(np.float32)

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(stacks))
    n_val = len(stacks) // 20
    val, train = order[:n_val], order[n_val:]

    with open(STATE_PACKAGE / "manifest.toml", "rb") as fh:
        state = tomllib.load(fh)
    L = state["model"]["latent_dim"]
    log: list = []
    encoder = PixelEncoder(L)
    print(f"training the encoder ({sum(p.numel() for p in encoder.parameters())} parameters)", flush=True)
    fit(encoder, stacks[train], z_teacher[train], args.steps, args.batch, 1e-3, args.seed, "encoder", log)
    decoder = FrameDecoder(L)
    print("training the frame decoder", flush=True)
    fit(decoder, z_teacher[train], stacks[train, -1:], args.decoder_steps, args.batch, 1e-3, args.seed + 1, "decoder", log)

    # Held-out accuracy, read back through the state model's own decoder.
    with torch.no_grad():
        z_val = torch.cat([encoder(torch.from_numpy(stacks[val[i : i + 512]])) for i in range(0, n_val, 512)]).numpy()
        frame_val = torch.cat([decoder(torch.from_numpy(z_teacher[val[i : i + 512]])) for i in range(0, n_val, 512)]).numpy()
    obs_hat = run_onnx(STATE_PACKAGE / "decoder.onnx", {"z": z_val})[0] * OBS_STD
    truth = states[val]
    angle_err = np.angle(np.exp(1j * (np.arctan2(obs_hat[:, 1], obs_hat[:, 0]) - np.arctan2(truth[:, 1], truth[:, 0]))))
    metrics = {
        "latent_rms": float(np.sqrt(np.mean((z_val - z_teacher[val]) ** 2))),
        "angle_rms_rad": float(np.sqrt(np.mean(angle_err**2))),
        "velocity_rms_rad_s": float(np.sqrt(np.mean((obs_hat[:, 2] - truth[:, 2]) ** 2))),
        "frame_rms": float(np.sqrt(np.mean((frame_val - stacks[val, -1:]) ** 2))),
        "held_out_stacks": int(n_val),
    }
    print("held out:", json.dumps(metrics), flush=True)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    ref_rows = val[:2]
    pixels = torch.from_numpy(stacks[ref_rows])
    export_graph(encoder, [("pixels", pixels)], [("z", (L,))], out / "encoder.onnx")
    z_ref = torch.from_numpy(z_teacher[ref_rows])
    export_graph(decoder, [("z", z_ref)], [("pixels", (1, HEIGHT, WIDTH))], out / "decoder.onnx")
    for role in COPIED:
        shutil.copyfile(STATE_PACKAGE / f"{role}.onnx", out / f"{role}.onnx")
    state_ref = json.loads((STATE_PACKAGE / "reference.json").read_text())
    flat = lambda t: _exact(t.reshape(t.shape[0], -1))
    with torch.no_grad():
        reference = {
            "graphs": {
                "encoder": {"inputs": {"pixels": flat(pixels.numpy())}, "outputs": {"z": flat(encoder(pixels).numpy())}},
                **{role: state_ref["graphs"][role] for role in COPIED},
                "decoder": {"inputs": {"z": flat(z_ref.numpy())}, "outputs": {"pixels": flat(decoder(z_ref).numpy())}},
            }
        }
    # onnxruntime must agree with PyTorch on what the package ships.
    for role in ("encoder", "decoder"):
        g = reference["graphs"][role]
        feeds = {"pixels": pixels.numpy()} if role == "encoder" else {"z": z_ref.numpy()}
        got = run_onnx(out / f"{role}.onnx", feeds)[0].reshape(2, -1)
        want = np.asarray(next(iter(g["outputs"].values())), np.float32)
        err = float(np.max(np.abs(got - want)))
        if err > 1e-4:
            raise SystemExit(f"{role}.onnx: onnxruntime differs from PyTorch by {err}")
    (out / "reference.json").write_text(json.dumps(reference, indent=None, separators=(",", ":")) + "\n")
    (out / "manifest.toml").write_text(manifest_text(state))
    training = {
        "command": f"python models/train/train_pendulum_pixels.py --out {out} --seed {args.seed}",
        "seed": args.seed,
        "episodes": args.episodes,
        "episode_length": args.length,
        "frame_stacks": int(len(stacks)),
        "image": {"height": HEIGHT, "width": WIDTH, "channels": "gray", "frames": FRAMES},
        "encoder_steps": args.steps,
        "decoder_steps": args.decoder_steps,
        "batch": args.batch,
        "render_seconds": round(render_seconds, 1),
        "total_seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
        "gymnasium": gym.__version__,
        "held_out": metrics,
        "log": log,
    }
    (out / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    print(f"wrote {out} in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
