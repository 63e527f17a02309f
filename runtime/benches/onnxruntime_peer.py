#!/usr/bin/env python3
"""Peer benchmark: one graph of an Augur model package, run by onnxruntime.

    python runtime/benches/onnxruntime_peer.py --model models/bench-1m --graph dynamics \\
        --batch 512 --threads 1 --iters 200 --warmup 20

Loads the graph named in the package's ``manifest.toml`` with onnxruntime's CPU
provider (``intra_op_num_threads = --threads``, one inter-op thread, sequential
execution, all graph optimisations), feeds seeded random f32 inputs of the manifest's
shapes with the batch dimension set to ``--batch``, times ``--iters`` calls after
``--warmup`` untimed ones, and prints one JSON line per graph on stdout:

    {"runtime":"onnxruntime","version":"1.32.0","graph":"dynamics","batch":512,
     "threads":1,"median_us":...,"p99_us":...,"mean_us":...,"iters":200}

``--graph all`` benchmarks every graph in the manifest, one line each.  Inputs are the
same for every call (the graphs are pure functions, so caching cannot help) and are
drawn from ``numpy.random.default_rng(--seed)``: standard normal, except that
``action`` and ``action_prev`` inputs are uniform within the manifest's action bounds, and
``is_first`` is 0 (a continuing filter step, the one a control cycle runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort


def session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def inputs_for(manifest: dict, graph: dict, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    low = np.array([a["low"] for a in manifest["action"]], dtype=np.float32)
    high = np.array([a["high"] for a in manifest["action"]], dtype=np.float32)
    feeds = {}
    for t in graph["inputs"]:
        if t.get("dtype", "f32") != "f32":
            raise SystemExit(f"{t['name']}: only f32 inputs are supported")
        shape = [batch if d == "B" else int(d) for d in t["shape"]]
        if t["name"] in ("action", "action_prev"):
            x = rng.uniform(low, high, size=shape)
        elif t["name"] == "is_first":
            x = np.zeros(shape)  # a continuing filter step, the one a control cycle runs
        else:
            x = rng.standard_normal(shape)
        feeds[t["name"]] = np.ascontiguousarray(x, dtype=np.float32)
    return feeds


def bench(package: Path, manifest: dict, role: str, args: argparse.Namespace) -> dict:
    graph = manifest["graphs"][role]
    sess = session(package / graph["file"], args.threads)
    feeds = inputs_for(manifest, graph, args.batch, np.random.default_rng(args.seed))
    outputs = [t["name"] for t in graph["outputs"]]
    for _ in range(args.warmup):
        sess.run(outputs, feeds)
    times = np.empty(args.iters)
    for i in range(args.iters):
        t = time.perf_counter_ns()
        sess.run(outputs, feeds)
        times[i] = (time.perf_counter_ns() - t) / 1e3
    return {
        "runtime": "onnxruntime",
        "version": ort.__version__,
        "graph": role,
        "batch": args.batch,
        "threads": args.threads,
        "median_us": round(float(np.median(times)), 2),
        "p99_us": round(float(np.percentile(times, 99)), 2),
        "mean_us": round(float(times.mean()), 2),
        "iters": args.iters,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="model package folder")
    ap.add_argument("--graph", default="dynamics", help="graph role, or 'all'")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.batch < 1 or args.threads < 1 or args.iters < 1 or args.warmup < 0:
        raise SystemExit("batch, threads and iters must be >= 1, warmup >= 0")
    with open(args.model / "manifest.toml", "rb") as fh:
        manifest = tomllib.load(fh)
    roles = list(manifest["graphs"]) if args.graph == "all" else [args.graph]
    for role in roles:
        if role not in manifest["graphs"]:
            raise SystemExit(f"{args.model}: no graph {role!r} (has {', '.join(manifest['graphs'])})")
        print(json.dumps(bench(args.model, manifest, role, args), separators=(",", ":")))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
