#!/usr/bin/env python3
"""The yardstick's peers: one f32 matrix product on one thread, by onnxruntime and by
numpy's BLAS, so ``augur bench-plan --matmul-peers`` can put its planners' rate
against the best single-core product measured on the machine in the same run.

    python planner/benches/matmul_peers.py --shape 512 384 384 --iters 200

Needs numpy, onnx and onnxruntime (``runtime/benches/requirements.txt``). numpy's
BLAS (the OpenBLAS its wheel bundles) is held to one thread through the environment
before numpy is imported; onnxruntime runs a one-node ``MatMul`` graph with one
intra-op and one inter-op thread, sequential execution and every graph optimisation.
Both multiply the same ``[m, k] x [k, n]`` operands (seeded), ``--iters`` timed calls
after a tenth as many untimed ones; the best call gives the peak, as tract-linalg's
is measured in ``runtime/src/model/peak.rs``. One JSON line per runtime on stdout:

    {"runtime":"onnxruntime","version":"1.32.0","shape":[512,384,384],
     "peak_gflops":...,"median_gflops":...,"iters":200}
"""

from __future__ import annotations

import argparse
import json
import os
import time

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402


def timed(call, iters: int) -> list[float]:
    for _ in range(iters // 10 + 1):
        call()
    samples = []
    for _ in range(iters):
        t = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t)
    return sorted(samples)


def report(runtime: str, version: str, shape: list[int], samples: list[float]) -> None:
    flops = 2.0 * shape[0] * shape[1] * shape[2]
    print(
        json.dumps(
            {
                "runtime": runtime,
                "version": version,
                "shape": shape,
                "peak_gflops": flops / samples[0] / 1e9,
                "median_gflops": flops / samples[len(samples) // 2] / 1e9,
                "iters": len(samples),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[512, 384, 384], metavar=("M", "K", "N"))
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    m, k, n = args.shape
    rng = np.random.default_rng(args.seed)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)

    out = np.empty((m, n), dtype=np.float32)
    report("numpy", np.__version__, args.shape, timed(lambda: np.matmul(a, b, out=out), args.iters))

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [m, n])],
        initializer=[onnx.numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {"a": a}
    got = session.run(None, feed)[0]
    assert np.allclose(got, a @ b, rtol=1e-4, atol=1e-3), "onnxruntime's product is wrong"
    report("onnxruntime", ort.__version__, args.shape, timed(lambda: session.run(None, feed), args.iters))


if __name__ == "__main__":
    main()
