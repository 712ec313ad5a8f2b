"""`rtai serve`: the scoring API on uvicorn (uvloop, httptools), wired to the pipeline's topics,
Feast, the served model and, with scoring = "triton", Triton; it stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import uvicorn
from fastapi import FastAPI

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.clients.served_model import ServedModel
from flink_jobs.clients.triton_client import TritonClient
from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.config.topics import full_name
from flink_jobs.long_lived_objects import collect_rarely, freeze_what_is_held
from flink_jobs.stages.enrich.batch_view_loader import BatchViewLoader
from rtai import pulsar_client
from rtai.serving.app import create_app
from rtai.serving.card_states import CardStates, TopicReader, history_start_ms
from rtai.serving.scorer import Scorer
from rtai.stack import config as stack_config


def _caught_up(reader: TopicReader) -> bool:
    """Whether the reader caught up with the topic; False once it is stopping (so a shutdown
    before then does not wait on this thread)."""
    while not reader.stopping.is_set():
        if reader.caught_up.wait(0.5):
            return True
    return False


async def _freeze_once_caught_up(reader: TopicReader) -> None:
    if await asyncio.to_thread(_caught_up, reader):
        # What the API holds once it has read the topic (each card's history and cached views) lives on.
        freeze_what_is_held()


def serve(config: PipelineConfig, host: str, port: int) -> None:
    api = config.scoring_api
    collect_rarely()
    stack = stack_config.load()
    client = pulsar_client.connect(
        config.pulsar.service_url, tls_trust_certs_file=config.pulsar.tls_trust_certs_file, token=api.pulsar_token
    )
    topic = full_name(config.topics.transactions)
    states = CardStates(api.max_cards)
    reader = TopicReader(client, topic, states, history_start_ms(api.history, api.history_s))
    producer = pulsar_client.input_producer(client, topic, block_if_queue_full=True)
    model = ServedModel(
        stack.triton.repository_path(),
        config.model.name,
        config.model.canary.candidate_version,
        config.model.shadow.version,
        setting="scoring_api.scoring",
    )
    feast = FeastClient.from_calls(api.feast)
    token = api.token.read("scoring_api.token") if api.token.configured else None
    # Triton gets most of the deadline and one attempt: the fallback answers past it.
    calls = replace(config.inference_job.triton, timeout_s=api.deadline_ms / 1000 * 0.6, retries=0)
    triton = TritonClient.from_calls(calls, config.model.name) if api.scoring == "triton" else None
    scorer = Scorer(config, model, feast, triton)
    loads = FeastClient.from_calls(replace(api.feast, timeout_s=api.feast.load_timeout_s))
    views = BatchViewLoader(scorer.enricher, config.inference_job.cached_views, loads)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        reader.start()
        scorer.start()
        await asyncio.to_thread(views.load)  # before the API listens
        views.start_renewing()
        freezing = asyncio.create_task(_freeze_once_caught_up(reader))
        try:
            yield
        finally:
            reader.stopping.set()  # the API stops serving: the reader too, and the wait for it to catch up
            freezing.cancel()
            views.close()
            scorer.close()
            if triton is not None:
                await triton.close()

    app = create_app(config, scorer, states, reader, producer, token)
    app.router.lifespan_context = lifespan
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
            ssl_certfile=api.tls_cert_file or None,
            ssl_keyfile=api.tls_key_file or None,
        )
    finally:
        reader.stop()
        producer.flush()
        client.close()
        model.close()
        feast.close()
        loads.close()
