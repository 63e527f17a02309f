"""Counts the floating-point work of one batch row of each graph in a model package.

Usage: ``python models/train/onnx_flops.py models/pendulum``

The count is read off the exported ONNX (not the PyTorch model), with the batch fixed to
one row and shapes inferred by ONNX itself:

* ``Gemm``/``MatMul``: 2 FLOPs per multiply-add, plus one per bias element;
* every other node: ``OP_COST[op]`` FLOPs per output element (e.g. LayerNormalization
  is mean, variance, normalise, scale and shift, about 8 per element); transcendental
  functions (Exp, Tanh, Sigmoid, Softplus) are counted as one each and also tallied separately,
  since on a CPU they cost tens of FLOPs' worth of time.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

import numpy as np
import onnx

OP_COST = {
    "LayerNormalization": 8,
    "Softmax": 4,  # max, sub, exp, sum+div
    "Softplus": 2,
    "Tanh": 1,
    "Sigmoid": 1,
    "Exp": 1,
    "Mul": 1,
    "Add": 1,
    "Sub": 1,
    "Div": 1,
    "Neg": 1,
    "Abs": 1,
    "Relu": 1,
}
TRANSCENDENTAL = {"Softplus": 1, "Tanh": 1, "Sigmoid": 1, "Exp": 1, "Softmax": 1}
FREE = {"Reshape", "Concat", "Constant", "Identity", "Unsqueeze", "Squeeze", "Split", "Slice", "Gather", "Shape", "Transpose"}


def _dims(vi: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value for d in vi.type.tensor_type.shape.dim]


def count(path: Path) -> dict:
    model = onnx.load(str(path))
    for vi in list(model.graph.input) + list(model.graph.output):
        d0 = vi.type.tensor_type.shape.dim[0]
        d0.Clear()
        d0.dim_value = 1
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {vi.name: _dims(vi) for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    shapes |= {t.name: list(t.dims) for t in model.graph.initializer}
    for n in model.graph.node:  # Constant nodes have no value_info entry
        if n.op_type == "Constant":
            shapes[n.output[0]] = list(onnx.numpy_helper.to_array(n.attribute[0].t).shape)
    matmul = other = transcendental = 0
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    for n in model.graph.node:
        if n.op_type in ("Gemm", "MatMul"):
            a, b = shapes[n.input[0]], shapes[n.input[1]]
            trans_b = any(at.name == "transB" and at.i for at in n.attribute)
            m, k = a[-2], a[-1]
            nn_ = b[-2] if trans_b else b[-1]
            matmul += 2 * m * k * nn_
            if n.op_type == "Gemm" and len(n.input) > 2:
                matmul += m * nn_
        elif n.op_type in FREE:
            continue
        elif n.op_type in OP_COST:
            elems = int(np.prod(shapes[n.output[0]]))
            other += OP_COST[n.op_type] * elems
            transcendental += TRANSCENDENTAL.get(n.op_type, 0) * elems
        else:
            raise ValueError(f"{path}: no cost known for op {n.op_type}")
    return {
        "flops_per_row": matmul + other,
        "matmul_flops_per_row": matmul,
        "elementwise_flops_per_row": other,
        "transcendentals_per_row": transcendental,
        "parameters": params,
        "ops": sorted({n.op_type for n in model.graph.node}),
    }


def count_package(package: Path) -> dict[str, dict]:
    with open(package / "manifest.toml", "rb") as fh:
        manifest = tomllib.load(fh)
    return {role: count(package / g["file"]) for role, g in manifest["graphs"].items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("package", type=Path)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    result = count_package(args.package)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'graph':<10}{'FLOPs/row':>12}{'matmul':>12}{'elementwise':>13}{'transc.':>9}{'params':>10}")
    for role, r in result.items():
        print(
            f"{role:<10}{r['flops_per_row']:>12,}{r['matmul_flops_per_row']:>12,}"
            f"{r['elementwise_flops_per_row']:>13,}{r['transcendentals_per_row']:>9,}{r['parameters']:>10,}"
        )


if __name__ == "__main__":
    main()
