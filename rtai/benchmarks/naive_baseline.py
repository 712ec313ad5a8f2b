"""The naive baseline: the pipeline written the way one would without this project.

One Python process: a pulsar-client consumer, and for each event one Feast
`/get-online-features` request for the FeatureService and one synchronous Triton gRPC request with
one row; the prediction is sent asynchronously (the producer batches sends) and the event is
acknowledged when the broker has it. Bad events go to the dead-letter topic. It runs until stopped (SIGTERM):

    python -m rtai.benchmarks.naive_baseline --pipeline pipelines/fraud.toml
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pulsar
import tritonclient.grpc as grpcclient
from tritonclient.utils import np_to_triton_dtype

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.clients.model_feeds import model_arrays
from flink_jobs.clients.triton_client import ModelSignature, TritonClient
from flink_jobs.config import pipeline_config
from flink_jobs.config.pipeline_config import TritonCalls
from flink_jobs.config.topics import full_name
from flink_jobs.events import InvalidEvent, parse
from flink_jobs.stages.features.defaults import default
from flink_jobs.stages.inference.request_features import request_features
from flink_jobs.stages.output.dead_letters import dead_letter
from rtai import paths, pulsar_client

JOB_NAME = "naive-baseline"


def features(feast: FeastClient, service: str, card_id: int, merchant_id: int) -> dict[str, float]:
    columns = feast.online_features({"card_id": [card_id], "merchant_id": [merchant_id]}, feature_service=service)
    values = {}
    for name, column in columns.items():
        if name in ("card_id", "merchant_id"):
            continue
        present = column.statuses[0] == "PRESENT" and column.values[0] is not None
        values[name] = float(column.values[0]) if present else default(name)
    return values


def acknowledge_when_sent(consumer: pulsar.Consumer, message: pulsar.Message):
    def sent(result: pulsar.Result, _message_id: object) -> None:
        if result == pulsar.Result.Ok:
            consumer.acknowledge(message)
        else:  # redelivered after a restart
            consumer.negative_acknowledge(message)

    return sent


async def _signature(calls: TritonCalls, model: str) -> ModelSignature:
    client = TritonClient.from_calls(calls, model)
    try:
        return await client.connect()
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE)
    args = parser.parse_args(argv)
    config = pipeline_config.load(args.pipeline)
    job = config.inference_job
    client = pulsar_client.connect(config.pulsar.service_url)
    consumer = client.subscribe(
        full_name(config.topics.transactions), job.subscription, initial_position=pulsar.InitialPosition.Earliest
    )
    predictions = client.create_producer(full_name(config.topics.predictions), batching_max_publish_delay_ms=1)
    dead_letters = client.create_producer(full_name(config.topics.dead_letter))
    feast = FeastClient.from_calls(job.feast)
    triton = grpcclient.InferenceServerClient(job.triton.url)
    # The model's inputs as the job reads them (a matrix input's columns from its config.pbtxt).
    signature = asyncio.run(_signature(job.triton, config.model.name))
    output = signature.outputs[0].name
    while True:
        message = consumer.receive()
        try:
            event = parse(message.data())
        except InvalidEvent as err:
            payload = message.data().decode("utf-8", "replace")
            record = dead_letter(payload, str(err), source_topic=config.topics.transactions, job=JOB_NAME)
            dead_letters.send_async(record.encode(), acknowledge_when_sent(consumer, message))
            continue
        started = time.time()
        row = request_features(event.amount, event.channel, event.merchant_country, event.card_country)
        row |= features(feast, config.features.service, event.card_id, event.merchant_id)
        enriched = time.time()
        tensors = []
        columns = {name: np.array([value], np.float32) for name, value in row.items()}
        for spec, array in model_arrays(config.model.name, signature.inputs, columns, 1):
            tensor = grpcclient.InferInput(spec.name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        score = float(triton.infer(config.model.name, tensors).as_numpy(output)[0, 0])
        scored = time.time()
        prediction = {
            "event_id": event.event_id,
            "card_id": event.card_id,
            "score": score,
            "label": score >= config.model.alert_threshold,
            "enrich_ms": round((enriched - started) * 1000, 2),
            "infer_ms": round((scored - enriched) * 1000, 2),
        }
        predictions.send_async(json.dumps(prediction).encode(), acknowledge_when_sent(consumer, message))


if __name__ == "__main__":
    main()
