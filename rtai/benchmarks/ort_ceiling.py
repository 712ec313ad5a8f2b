"""The in-process ceiling: onnxruntime on one model, one thread, whole batches, no server.

Runs in the model environment (`rtai bench model` starts it there):
    python -m rtai.benchmarks.ort_ceiling --model model.onnx --batch 256 --seconds 5
Prints one JSON object: rows per second and the median batch latency.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rtai.models.reference_outputs import seeded_feeds
from rtai.models.signature import onnx_signature


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)

    inputs, outputs = onnx_signature(args.model)
    feeds = seeded_feeds(inputs, args.batch, seed=0)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    names = [t.name for t in outputs]
    session.run(names, feeds)
    latencies = []
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        call = time.perf_counter()
        session.run(names, feeds)
        latencies.append(time.perf_counter() - call)
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "batch": args.batch,
                "rows_per_s": round(len(latencies) * args.batch / elapsed),
                "batch_latency_ms_p50": round(float(np.median(latencies)) * 1000, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
