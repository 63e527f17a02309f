"""Export a ``WorldModel`` as an Augur model package (see ``docs/model-format.md``).

The package is the ONNX graphs with the roles the runtime knows (the world model's
four from ``export_package``; a decoder added later by ``add_graph``), a
``manifest.toml`` stating their contract, and a ``reference.json`` of inputs and the
outputs PyTorch computed for them, which every runtime is expected to reproduce.

Choices made for the runtimes that load these graphs (tract on the robot,
onnxruntime as the peer benchmark):

* the legacy TorchScript exporter (``dynamo=False``) at opset 17, which emits plain
  Gemm/LayerNormalization/Softplus/Tanh/Mul/Reshape/Softmax graphs;
* the batch axis is symbolic and named ``B``; every other dimension is written as a
  fixed integer after export (the exporter leaves dims behind a Reshape symbolic);
* graphs speak physical units: the dynamics and value graphs take the action in the
  manifest's units and normalise it to [-1, 1] inside the graph, and the policy graph
  returns its mean in those units.
"""

from __future__ import annotations

import json
import math
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from world_model import WorldModel

REFERENCE_TOLERANCE = 1e-5


# -- graph wrappers ---------------------------------------------------------------------
class _ActionScaling(nn.Module):
    """Maps physical actions in ``[low, high]`` to the networks' ``[-1, 1]`` and back."""

    def __init__(self, low: np.ndarray, high: np.ndarray):
        super().__init__()
        mid, half = (high + low) / 2, (high - low) / 2
        self.has_mid = bool(np.any(mid != 0))
        self.has_half = bool(np.any(half != 1))
        self.register_buffer("mid", torch.tensor(mid, dtype=torch.float32).reshape(1, -1))
        self.register_buffer("half_range", torch.tensor(half, dtype=torch.float32).reshape(1, -1))
        self.register_buffer("inv_half", 1.0 / self.half_range)
        self.register_buffer("log_half", torch.log(self.half_range))

    def to_unit(self, a: torch.Tensor) -> torch.Tensor:
        if self.has_mid:
            a = a - self.mid
        return a * self.inv_half if self.has_half else a

    def to_physical(self, u: torch.Tensor) -> torch.Tensor:
        if self.has_half:
            u = u * self.half_range
        return u + self.mid if self.has_mid else u


class EncoderGraph(nn.Module):
    """``obs [B,O]`` (normalised) -> ``z [B,L]``."""

    def __init__(self, model: WorldModel, scaling: _ActionScaling):
        super().__init__()
        self.model = model

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.model.encode(obs)


class DynamicsGraph(nn.Module):
    """``z [B,L], action [B,A]`` (physical) -> ``z_next [B,L], reward [B,1]``."""

    def __init__(self, model: WorldModel, scaling: _ActionScaling):
        super().__init__()
        self.model, self.scaling = model, scaling

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.scaling.to_unit(action)
        return self.model.next(z, a), self.model.reward(z, a)


class ValueGraph(nn.Module):
    """``z [B,L]`` -> ``value [B,1]``: mean of the Q heads at the policy's mean action."""

    def __init__(self, model: WorldModel, scaling: _ActionScaling):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mu, _ = self.model.pi_params(z)
        za = torch.cat([z, torch.tanh(mu)], dim=-1)
        qs = [self.model._value_head(q(za)) for q in self.model._Qs]
        total = qs[0]
        for q in qs[1:]:
            total = total + q
        return total * (1.0 / len(qs))


class PolicyGraph(nn.Module):
    """``z [B,L]`` -> ``mean [B,A], log_std [B,A]``, a Gaussian over *physical* actions.

    ``mean = mid + half * tanh(mu)``.  The policy's own distribution is
    ``tanh(N(mu, sigma))``; its first-order (delta-method) Gaussian in physical units has
    ``std = half * (1 - tanh(mu)^2) * sigma``, so
    ``log_std = log sigma + log half + log(1 - tanh(mu)^2)``, with the last term computed
    stably as ``2 (log 2 - |mu| - softplus(-2 |mu|))``.  Where the policy saturates the
    prior therefore narrows, as the squashed distribution does.
    """

    def __init__(self, model: WorldModel, scaling: _ActionScaling):
        super().__init__()
        self.model, self.scaling = model, scaling

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.model.pi_params(z)
        mean = self.scaling.to_physical(torch.tanh(mu))
        abs_mu = torch.abs(mu)
        log_dtanh = 2.0 * (math.log(2.0) - abs_mu - F.softplus(-2.0 * abs_mu))
        log_std = log_std + log_dtanh
        if self.scaling.has_half:
            log_std = log_std + self.scaling.log_half
        return mean, log_std


GRAPH_WRAPPERS = {
    "encoder": EncoderGraph,
    "dynamics": DynamicsGraph,
    "value": ValueGraph,
    "policy": PolicyGraph,
}

# Every role, in manifest order (docs/model-format.md); the first four come from a
# ``WorldModel``, the decoder is fitted separately (``fit_decoder.py``).
ROLES = ("encoder", "dynamics", "value", "policy", "decoder")


# -- package description -------------------------------------------------------------------
@dataclass
class Feature:
    name: str
    mean: float = 0.0
    std: float = 1.0
    unit: str | None = None


@dataclass
class Action:
    name: str
    low: float
    high: float
    safe: float = 0.0
    unit: str | None = None


@dataclass
class PackageSpec:
    """Everything the manifest says besides the graphs, which follow from the model."""

    name: str
    version: str
    description: str
    dt: float
    discount: float
    observations: list[Feature]
    actions: list[Action]
    comments: list[str] = field(default_factory=list)
    # Steps of the latent rollouts the model was trained on; planners default to it.
    horizon: int | None = None

    def graph_tensors(self, latent_dim: int) -> dict[str, tuple[list[tuple[str, int]], list[tuple[str, int]]]]:
        O, A, L = len(self.observations), len(self.actions), latent_dim
        return {
            "encoder": ([("obs", O)], [("z", L)]),
            "dynamics": ([("z", L), ("action", A)], [("z_next", L), ("reward", 1)]),
            "value": ([("z", L)], [("value", 1)]),
            "policy": ([("z", L)], [("mean", A), ("log_std", A)]),
            "decoder": ([("z", L)], [("obs", O)]),
        }


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    raise TypeError(v)


def render_manifest(
    spec: PackageSpec,
    latent_dim: int,
    reference: bool = True,
    roles: tuple[str, ...] = tuple(GRAPH_WRAPPERS),
) -> str:
    """``manifest.toml`` in the layout of docs/model-format.md, declaring the graphs of
    ``roles`` (in manifest order)."""
    lines = [f"# {c}" if c else "#" for c in spec.comments]
    lines += [
        "format = 1",
        "",
        "[model]",
        f"name = {_toml_value(spec.name)}",
        f"version = {_toml_value(spec.version)}",
        f"description = {_toml_value(spec.description)}",
        f"dt = {_toml_value(float(spec.dt))}",
        f"latent_dim = {latent_dim}",
        f"discount = {_toml_value(float(spec.discount))}",
    ]
    if spec.horizon is not None:
        lines.append(f"horizon = {int(spec.horizon)}")
    lines += [
        "",
    ]
    for f in spec.observations:
        lines += ["[[observation]]", f"name = {_toml_value(f.name)}"]
        if f.unit:
            lines.append(f"unit = {_toml_value(f.unit)}")
        lines += [f"mean = {_toml_value(float(f.mean))}", f"std = {_toml_value(float(f.std))}"]
    lines.append("")
    for a in spec.actions:
        lines += ["[[action]]", f"name = {_toml_value(a.name)}"]
        if a.unit:
            lines.append(f"unit = {_toml_value(a.unit)}")
        lines += [
            f"low = {_toml_value(float(a.low))}",
            f"high = {_toml_value(float(a.high))}",
            f"safe = {_toml_value(float(a.safe))}",
        ]
    lines.append("")

    def tensors(ts):
        return "[" + ", ".join(f'{{ name = "{n}", shape = ["B", {d}] }}' for n, d in ts) + "]"

    for role, (ins, outs) in spec.graph_tensors(latent_dim).items():
        if role not in roles:
            continue
        lines += [
            f"[graphs.{role}]",
            f'file = "{role}.onnx"',
            f"inputs = {tensors(ins)}",
            f"outputs = {tensors(outs)}",
            "",
        ]
    if reference:
        lines += ["[reference]", 'file = "reference.json"', ""]
    text = "\n".join(lines)
    tomllib.loads(text)  # it must at least parse
    return text


def write_manifest(path: Path, spec: PackageSpec, latent_dim: int, **kwargs) -> None:
    """Writes ``render_manifest(spec, latent_dim, **kwargs)`` to ``path``."""
    path.write_text(render_manifest(spec, latent_dim, **kwargs))


# -- ONNX --------------------------------------------------------------------------------
def _fix_io_shapes(model: onnx.ModelProto, widths: dict[str, int]) -> None:
    """Batch dim -> symbolic ``B``; second dim -> the declared integer."""
    for vi in list(model.graph.input) + list(model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) != 2:
            raise ValueError(f"{vi.name}: rank {len(dims)}, expected 2")
        dims[0].Clear()
        dims[0].dim_param = "B"
        dims[1].Clear()
        dims[1].dim_value = widths[vi.name]


def export_graph(module: nn.Module, inputs: list[tuple[str, torch.Tensor]], outputs: list[tuple[str, int]], path: Path) -> None:
    names_in = [n for n, _ in inputs]
    names_out = [n for n, _ in outputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            tuple(t for _, t in inputs),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=names_in,
            output_names=names_out,
            dynamic_axes={n: {0: "B"} for n in names_in + names_out},
            do_constant_folding=True,
        )
    model = onnx.load(str(path))
    widths = {n: t.shape[1] for n, t in inputs} | dict(outputs)
    _fix_io_shapes(model, widths)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def _exact(a: np.ndarray) -> list:
    """float32 array -> nested lists of Python floats holding the float32 values exactly."""
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def export_package(
    model: WorldModel,
    spec: PackageSpec,
    out: Path,
    reference_inputs: dict[str, np.ndarray],
    strict: bool = True,
) -> dict:
    """Exports all four graphs, ``manifest.toml`` and ``reference.json`` into ``out``.

    ``reference_inputs`` holds a batch of normalised observations (``obs``), latents
    (``z``; if absent, the encoder's output for ``obs`` is used) and physical actions
    (``action``).  Returns the reference check against onnxruntime.
    """
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    low = np.array([a.low for a in spec.actions], dtype=np.float32)
    high = np.array([a.high for a in spec.actions], dtype=np.float32)
    scaling = _ActionScaling(low, high)
    L = model.cfg.latent_dim
    obs = torch.tensor(reference_inputs["obs"], dtype=torch.float32)
    with torch.no_grad():
        z = model.encode(obs)
    if "z" in reference_inputs:
        z = torch.tensor(reference_inputs["z"], dtype=torch.float32)
    action = torch.tensor(reference_inputs["action"], dtype=torch.float32)
    feeds = {"obs": obs, "z": z, "action": action}

    export_graphs(model, scaling, GRAPH_WRAPPERS, spec.graph_tensors(L), feeds, out)
    write_manifest(out / "manifest.toml", spec, L)
    return verify_package(out, strict=strict)


def export_graphs(model: nn.Module, scaling: _ActionScaling, wrappers: dict, tensors: dict, feeds: dict, out: Path) -> None:
    """Exports ``<role>.onnx`` for every role of ``tensors`` (``spec.graph_tensors``)
    that ``wrappers`` has, and writes ``reference.json``: each wrapper's PyTorch outputs
    on the ``feeds`` its inputs name."""
    reference: dict = {"graphs": {}}
    for role, (ins, outs) in tensors.items():
        if role not in wrappers:
            continue
        wrapper = wrappers[role](model, scaling).eval()
        graph_inputs = [(n, feeds[n]) for n, _ in ins]
        export_graph(wrapper, graph_inputs, outs, out / f"{role}.onnx")
        with torch.no_grad():
            result = wrapper(*[t for _, t in graph_inputs])
        if isinstance(result, torch.Tensor):
            result = (result,)
        reference["graphs"][role] = {
            "inputs": {n: _exact(t.numpy()) for n, t in graph_inputs},
            "outputs": {n: _exact(r.numpy()) for (n, _), r in zip(outs, result)},
        }
    _write_reference(out / "reference.json", reference)


def _reference_text(reference: dict) -> str:
    return json.dumps(reference, indent=None, separators=(",", ":")) + "\n"


def _write_reference(path: Path, reference: dict) -> None:
    path.write_text(_reference_text(reference))


def add_graph(
    package: Path,
    role: str,
    module: nn.Module,
    spec: PackageSpec,
    reference_inputs: dict[str, np.ndarray],
    strict: bool = True,
) -> dict:
    """Adds graph ``role`` (e.g. the decoder) to an exported package, leaving its other
    graphs alone: their ONNX files are not touched, and their entries in
    ``manifest.toml`` and ``reference.json`` are rewritten unchanged (checked).

    ``module`` maps the role's inputs to its outputs (``spec.graph_tensors``);
    ``reference_inputs`` holds a batch for each input.  Writes ``<role>.onnx``, adds the
    role's reference, rewrites the manifest with the role declared and ``spec.comments``
    as its header, and returns the onnxruntime check of the whole package.
    """
    manifest_path, reference_path = package / "manifest.toml", package / "reference.json"
    with open(manifest_path, "rb") as fh:
        old_manifest = tomllib.load(fh)
    L = old_manifest["model"]["latent_dim"]
    roles = tuple(r for r in ROLES if r in old_manifest["graphs"] or r == role)
    manifest_text = render_manifest(spec, L, reference="reference" in old_manifest, roles=roles)
    new_manifest = tomllib.loads(manifest_text)
    new_manifest["graphs"].pop(role)
    old_manifest["graphs"].pop(role, None)
    if new_manifest != old_manifest:
        raise ValueError(f"{manifest_path}: the spec given disagrees with the package beyond the `{role}` graph")
    old_reference_text = reference_path.read_text()
    reference = json.loads(old_reference_text)
    if _reference_text(reference) != old_reference_text:
        raise ValueError(f"{reference_path} would not be rewritten byte for byte")

    ins, outs = spec.graph_tensors(L)[role]
    module = module.eval()
    inputs = [(n, torch.tensor(reference_inputs[n], dtype=torch.float32)) for n, _ in ins]
    export_graph(module, inputs, outs, package / f"{role}.onnx")
    with torch.no_grad():
        result = module(*[t for _, t in inputs])
    if isinstance(result, torch.Tensor):
        result = (result,)
    reference["graphs"][role] = {
        "inputs": {n: _exact(t.numpy()) for n, t in inputs},
        "outputs": {n: _exact(r.numpy()) for (n, _), r in zip(outs, result)},
    }
    _write_reference(reference_path, reference)
    manifest_path.write_text(manifest_text)
    return verify_package(package, strict=strict)


def verify_package(package: Path, tolerance: float = REFERENCE_TOLERANCE, strict: bool = True) -> dict:
    """Checks every graph against the manifest and ``reference.json`` with onnxruntime.

    The criterion is ``|a - b| / max(1, |b|) <= tolerance``: absolute below magnitude 1,
    relative above (one float32 ULP at |v| ~ 300 is already 3e-5, so no tighter absolute
    bound is meaningful for the value graph).  Returns, per output, the largest absolute,
    relative and scaled errors and whether the check passed; with ``strict``, raises on
    the first failure.
    """
    with open(package / "manifest.toml", "rb") as fh:
        manifest = tomllib.load(fh)
    with open(package / manifest["reference"]["file"]) as fh:
        reference = json.load(fh)["graphs"]
    report = {}
    for role, g in manifest["graphs"].items():
        onnx_model = onnx.load(str(package / g["file"]))
        for declared, actual in [(g["inputs"], onnx_model.graph.input), (g["outputs"], onnx_model.graph.output)]:
            got = [(vi.name, [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim], vi.type.tensor_type.elem_type) for vi in actual]
            want = [(t["name"], t["shape"], onnx.TensorProto.FLOAT) for t in declared]
            if got != want:
                raise AssertionError(f"{g['file']}: tensors {got} != manifest {want}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(package / g["file"]), opts, providers=["CPUExecutionProvider"])
        ref = reference[role]
        feeds = {n: np.array(v, dtype=np.float32) for n, v in ref["inputs"].items()}
        results = sess.run([t["name"] for t in g["outputs"]], feeds)
        for t, r in zip(g["outputs"], results):
            want = np.array(ref["outputs"][t["name"]], dtype=np.float32)
            err = np.abs(r - want)
            scaled = float((err / np.maximum(np.abs(want), 1.0)).max())
            key = f"{role}.{t['name']}"
            report[key] = {
                "max_abs_err": float(err.max()),
                "max_rel_err": float((err / np.maximum(np.abs(want), 1e-30)).max()),
                "max_scaled_err": scaled,
                "max_abs_value": float(np.abs(want).max()),
                "ok": scaled <= tolerance,
            }
            if strict and scaled > tolerance:
                raise AssertionError(f"{key}: onnxruntime differs from PyTorch by {scaled:.3g} (scaled) > {tolerance}")
    return report
