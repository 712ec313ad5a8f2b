"""The scoring API (FastAPI): POST /v1/score for the authorization path.

    POST /v1/score   one transaction in the event schema (docs/features.md: the schema), or
                     {"transactions": [...]} for several; each answer: score, label, model and
                     version, the rules that fired, every model input, the other views' feature
                     ages, `scoring` ("model", or "model_without_other_views" with `fallback`,
                     the reason) and took_ms. The transaction goes into the stream too.
    GET  /health     200 once the card histories have caught up with the topic, 503 before
    GET  /metrics    Prometheus: requests by outcome, their duration, fallbacks, batch sizes

Bad input is a 422 naming the problem (the jobs' own parser and event-time window), a missing or
wrong token a 401; a slow or absent Feast or Triton never fails a request (scorer.py).
"""

from __future__ import annotations

import asyncio
import hmac
import time

import orjson
import pulsar
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.events import MAX_EVENT_BYTES, InvalidEvent, Transaction, accepted, to_json
from flink_jobs.stages.features.card_windows import EVENTS_PER_MINUTE
from flink_jobs.stages.output.alerts import fired_rules
from rtai.serving.card_states import CardStates, TopicReader
from rtai.serving.scorer import Scored, Scorer, feature_ages_s

MAX_BATCH_REQUEST = 256  # transactions in one POST
REQUESTS = Counter("rtai_scoring_api_requests", "requests by outcome", ["outcome"])
DURATION = Histogram(
    "rtai_scoring_api_request_duration_seconds",
    "from a request's arrival to its answer",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)


def _json(status: int, body: object) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def create_app(
    config: PipelineConfig,
    scorer: Scorer,
    states: CardStates,
    reader: TopicReader,
    producer: pulsar.Producer,
    token: str | None,
) -> FastAPI:
    app = FastAPI(title="rtai scoring API", docs_url=None, redoc_url=None, openapi_url=None)
    threshold, model_name = config.model.alert_threshold, config.model.name

    def answer(event: Transaction, scored: Scored, started: float) -> dict[str, object]:
        score = scored.score
        return {
            "event_id": event.event_id,
            "score": score,
            "label": score >= threshold,
            "model": model_name,
            "model_version": scored.version,
            "rules": fired_rules(config.rules, score, event.amount, scored.features.get(EVENTS_PER_MINUTE, 0.0)),
            "scoring": scored.scoring,
            "fallback": scored.fallback or None,
            "features": scored.features,
            "features_missing": scored.enriched.missing if scored.enriched else True,
            "feature_ages_s": feature_ages_s(scored.enriched),
            "took_ms": round((time.perf_counter() - started) * 1000, 3),
        }

    def parsed(raw: bytes) -> Transaction:
        return accepted(raw, config.events, time.time_ns() // 1_000_000)

    async def scored(event: Transaction, started: float) -> dict[str, object]:
        realtime = states.add(event, own=True)
        producer.send_async(
            to_json(event).encode(), None, partition_key=str(event.card_id), event_timestamp=event.event_time_ms
        )
        return answer(event, await scorer.score(event, realtime, started), started)

    async def score(request: Request) -> Response:
        started = time.perf_counter()
        if token is not None and not hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}"):
            REQUESTS.labels("unauthorized").inc()
            return _json(401, {"error": "missing or wrong token: Authorization: Bearer <token>"})
        raw = await request.body()
        if len(raw) > MAX_BATCH_REQUEST * MAX_EVENT_BYTES:
            REQUESTS.labels("bad_request").inc()
            return _json(413, {"error": f"oversize request: {len(raw)} bytes"})
        try:
            body = orjson.loads(raw)
            if isinstance(body, dict) and "transactions" in body:
                items = body["transactions"]
                if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH_REQUEST:
                    raise InvalidEvent(f"transactions: a list of 1 to {MAX_BATCH_REQUEST} transactions")
                events = [parsed(orjson.dumps(item)) for item in items]  # all valid, or none scored
                # Gathered: each adds its card's state and joins the scoring queue in order, one batch for all.
                result: object = {"answers": list(await asyncio.gather(*(scored(e, started) for e in events)))}
            else:
                result = await scored(parsed(raw), started)
        except orjson.JSONDecodeError as err:
            REQUESTS.labels("bad_request").inc()
            return _json(422, {"error": f"malformed JSON: {err}"})
        except InvalidEvent as err:
            REQUESTS.labels("bad_request").inc()
            return _json(422, {"error": str(err)})
        REQUESTS.labels("answered").inc()
        DURATION.observe(time.perf_counter() - started)
        return _json(200, result)

    # A plain Starlette route: FastAPI's own (dependency solving, its request handler) took about
    # a tenth of the API's time on the request path, for a body this handler parses itself.
    app.router.add_route("/v1/score", score, methods=["POST"])

    @app.get("/health")
    async def health() -> Response:
        if reader.caught_up.is_set():
            return _json(200, {"status": "ready", "transactions_read": reader.read})
        return _json(503, {"status": "reading the card histories", "transactions_read": reader.read})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
