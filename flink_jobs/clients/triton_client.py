"""Triton over gRPC (asyncio): the one place the jobs and tools call a served model.

The client reads the model's signature from the server (input and output names, data
types, shapes, max batch size, a matrix input's columns), maps the caller's columns to the
model's inputs by name (model_feeds.py),
converts a column's dtype only when no value changes (an error otherwise), splits a large
batch into chunks of the model's max batch size, keeps up to max_in_flight chunks in flight
(only a batch larger than the model's max batch size has more than one), and retries a failed
call with backoff within a budget; past it, TritonUnavailable. An answer no retry can change
(an unknown model, an invalid argument: NO_RETRY) is TritonRejected at once, naming the cause.
Every answer says which version of the model computed it (`Inference.versions`): after a
promote or rollback the rows say so, without a restart of the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype, triton_to_np_dtype

from flink_jobs.clients.call_stats import CallStats
from flink_jobs.clients.model_feeds import INPUT_COLUMNS, TensorSpec, model_arrays, parse_input_columns, with_columns
from flink_jobs.clients.retry_policy import Retryable, RetryPolicy
from flink_jobs.config.pipeline_config import TritonCalls
from flink_jobs.config.secret_source import existing_file

log = logging.getLogger(__name__)
# grpc.aio makes a DEBUG record for every call: inside a job, whose Python loggers pass DEBUG on
# to the JVM's handler, that was ~3 % of the interpreter's held time at 1,000/s (py-spy --gil).
logging.getLogger("grpc").setLevel(logging.WARNING)


class TritonUnavailable(RuntimeError):
    """The server did not answer within the retry budget."""


class TritonRejected(RuntimeError):
    """The server answered with an error a retry cannot change."""


# gRPC statuses of a request the server understood and refused: the same request fails again.
NO_RETRY = frozenset(
    f"StatusCode.{name}"
    for name in (
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
    )
)


@dataclass(frozen=True)
class ModelSignature:
    name: str
    version: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int


@dataclass(frozen=True)
class Inference:
    outputs: dict[str, np.ndarray]
    versions: list[str]  # per row, the model version Triton's answer names


class TritonClient:
    def __init__(
        self,
        url: str,
        model: str,
        *,
        version: str = "",
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_ms: int = 100,
        max_in_flight: int = 4,
        tls_ca_file: str | None = None,
    ) -> None:
        """tls_ca_file: gRPC over TLS, trusting this CA certificate (PEM; "" the system's); None: plain."""
        self.url, self.model, self.version = url, model, version
        self.tls_ca_file = tls_ca_file
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._grpc: grpcclient.InferenceServerClient | None = None
        self.signature: ModelSignature | None = None
        self.stats = CallStats()
        self._retry = RetryPolicy(retries, backoff_ms / 1000, self.stats, log, self._unavailable)

    @property
    def _client(self) -> grpcclient.InferenceServerClient:
        """The gRPC channel, made on first use inside the running event loop (grpc.aio binds it there)."""
        if self._grpc is None:
            if self.tls_ca_file is None:
                self._grpc = grpcclient.InferenceServerClient(self.url)
            else:
                self._grpc = grpcclient.InferenceServerClient(
                    self.url, ssl=True, root_certificates=self.tls_ca_file or None
                )
        return self._grpc

    @classmethod
    def from_calls(cls, calls: TritonCalls, model: str) -> TritonClient:
        """The client a pipeline config's `[inference_job.triton]` section describes."""
        return cls(
            calls.url,
            model,
            timeout_s=calls.timeout_s,
            retries=calls.retries,
            backoff_ms=calls.backoff_ms,
            max_in_flight=calls.max_in_flight,
            tls_ca_file=existing_file(calls.ca_file, "triton.ca_file") if calls.tls else None,
        )

    async def close(self) -> None:
        if self._grpc is not None:
            await self._grpc.close()

    async def _call(self, what: str, call, *, retry: bool = True):
        """`await call()` within the retry budget (one attempt when not `retry`); TritonUnavailable past it."""
        return await self._retry.call_async(what, self._attempt, what, call, retry=retry)

    async def _attempt(self, what: str, call):
        started = time.perf_counter()
        try:
            answer = await asyncio.wait_for(call(), self.timeout_s)
        except InferenceServerException as err:
            self.stats.errors += 1
            if err.status() in NO_RETRY:
                raise TritonRejected(f"Triton at {self.url}: {what} refused: {err}") from None
            raise Retryable(str(err)) from None
        except TimeoutError:
            self.stats.errors += 1
            raise Retryable(f"no answer within timeout_s ({self.timeout_s} s)") from None
        self.stats.answered(time.perf_counter() - started)
        return answer

    def _unavailable(self, what: str, attempts: int, problem: str) -> TritonUnavailable:
        return TritonUnavailable(f"Triton at {self.url}: {what} failed {attempts} times; last: {problem}")

    async def connect(self) -> ModelSignature:
        """Reads the model's signature from the server (retried like any call)."""
        metadata = await self._call(
            "model metadata", lambda: self._client.get_model_metadata(self.model, self.version, as_json=True)
        )
        config = await self._call(
            "model config", lambda: self._client.get_model_config(self.model, self.version, as_json=True)
        )
        max_batch_size = int(config["config"].get("max_batch_size", 0))

        def specs(entries: list[dict]) -> tuple[TensorSpec, ...]:
            # Metadata shapes include the batch dimension when the model batches.
            skip = 1 if max_batch_size > 0 else 0
            return tuple(
                TensorSpec(
                    e["name"], np.dtype(triton_to_np_dtype(e["datatype"])), tuple(int(d) for d in e["shape"][skip:])
                )
                for e in entries
            )

        columns_text = config["config"].get("parameters", {}).get(INPUT_COLUMNS, {}).get("string_value", "")
        where = f"model {self.model}'s config"
        try:
            inputs = with_columns(specs(metadata["inputs"]), parse_input_columns(columns_text, where), where)
        except ValueError as err:
            raise TritonRejected(str(err)) from err
        self.signature = ModelSignature(
            self.model,
            metadata["versions"][-1] if not self.version else self.version,
            inputs,
            specs(metadata["outputs"]),
            max_batch_size,
        )
        return self.signature

    async def loaded_versions(self) -> list[str]:
        """The versions of the model Triton has loaded now, lowest first (its metadata says)."""
        metadata = await self._call("model metadata", lambda: self._client.get_model_metadata(self.model, as_json=True))
        return sorted(metadata["versions"], key=int)

    async def _infer_chunk(
        self, arrays: list[tuple[TensorSpec, np.ndarray]], start: int, stop: int, version: str, retry: bool
    ):
        assert self.signature is not None
        requests = []
        for spec, array in arrays:
            chunk = np.ascontiguousarray(array[start:stop])
            request = grpcclient.InferInput(spec.name, list(chunk.shape), np_to_triton_dtype(spec.dtype))
            request.set_data_from_numpy(chunk)
            requests.append(request)
        outputs = [grpcclient.InferRequestedOutput(spec.name) for spec in self.signature.outputs]
        async with self._in_flight:
            result = await self._call(
                "infer",
                lambda: self._client.infer(self.model, requests, model_version=version, outputs=outputs),
                retry=retry,
            )
        return result

    async def infer(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's outputs for every row of `columns`, in row order."""
        return (await self.infer_rows(columns)).outputs

    async def infer_rows(
        self, columns: Mapping[str, np.ndarray], *, version: str | None = None, retry: bool = True
    ) -> Inference:
        """The model's outputs for every row of `columns`, in row order, and the version that computed each.

        version: this version of the model (default: the client's; "" Triton's choice); retry: False
        for a call whose failure the caller handles (one attempt, TritonUnavailable at once)."""
        version = self.version if version is None else version
        if self.signature is None:
            await self.connect()
        assert self.signature is not None
        rows = len(next(iter(columns.values())))
        arrays = model_arrays(self.model, self.signature.inputs, columns, rows)
        if rows == 0:
            return Inference({spec.name: np.empty((0, *spec.dims), spec.dtype) for spec in self.signature.outputs}, [])
        step = self.signature.max_batch_size or rows
        # A task group: when one chunk fails, the others are cancelled and awaited before this returns.
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._infer_chunk(arrays, start, min(start + step, rows), version, retry))
                    for start in range(0, rows, step)
                ]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the first failure, as the caller knows it (TritonUnavailable)
        chunks = [task.result() for task in tasks]
        outputs = {
            spec.name: np.concatenate([c.as_numpy(spec.name) for c in chunks]) for spec in self.signature.outputs
        }
        versions = [
            chunk.get_response().model_version
            for chunk, start in zip(chunks, range(0, rows, step), strict=True)
            for _ in range(min(step, rows - start))
        ]
        return Inference(outputs, versions)
