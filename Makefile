# The project's entry points. Every target installs what it needs first (`setup`
# is idempotent: a second run downloads nothing).
PYTHON ?= python3.11
VENV := .venvs/flink
RTAI := $(VENV)/bin/rtai
PYTEST_ARGS ?=
DEMO_ARGS ?=
BENCH_ARGS ?=

.PHONY: setup setup-redis setup-monitoring setup-services up monitor down status logs demo test test-fast test-containers \
	images compose-up compose-down faults edge-demo k8s-dry-run lint lock clean feast-apply \
	feast-materialize feast-views \
	features training-set feature-job inference-job bench bench-features bench-model bench-shadow bench-api bench-hot-keys
HISTORY := .run/data/generator/transactions.parquet

setup:
	@$(PYTHON) -m rtai setup

setup-redis:
	@$(PYTHON) -m rtai setup --with-redis

# Prometheus and Alertmanager from Debian's packages (apt-get; as root).
setup-monitoring:
	@$(PYTHON) -m rtai setup --with-monitoring

# Everything the integration tests start or run: the set-up, Redis, Prometheus and Alertmanager,
# kubectl (it renders the Kubernetes manifests).
setup-services:
	@$(PYTHON) -m rtai setup --with-redis --with-monitoring --with-kubectl

up: setup
	@$(RTAI) stack up

# The stack (if not up) with Prometheus, Alertmanager, the alert webhook receiver and, with Redis,
# its exporter (loopback).
monitor: setup-monitoring
	@$(RTAI) stack up --with-monitoring

down:
	@if [ -x $(RTAI) ]; then $(RTAI) stack down; fi

status:
	@$(RTAI) stack status

logs:
	@$(RTAI) stack logs

# The Feast CLI flow on feature_repo/ (from the feast environment).
feast-apply: setup
	@$(RTAI) features apply

feast-materialize: setup
	@$(RTAI) features materialize

feast-views: setup
	@$(RTAI) features views

# The offline side: a generated history (kept once written), the batch feature tables and the
# history's real-time features, feast apply, and the online store loaded (the stack must be up).
features: up
	@if [ ! -f $(HISTORY) ]; then $(RTAI) generate history; fi
	@$(RTAI) features backfill
	@$(RTAI) features apply
	@$(RTAI) features materialize

# A labelled, point-in-time training set for the pipeline's FeatureService.
training-set: setup
	@if [ ! -f $(HISTORY) ]; then $(RTAI) generate history; fi
	@if [ ! -f feature_repo/data/card_stats.parquet ]; then $(RTAI) features backfill; fi
	@$(RTAI) features apply
	@$(RTAI) features training-set

# The feature job on the embedded MiniCluster, against the running stack, until Ctrl-C.
feature-job: up
	@mkdir -p .run/data/$@/tmp && TMPDIR=$(CURDIR)/.run/data/$@/tmp $(VENV)/bin/python -m flink_jobs.jobs.card_features --pipeline pipelines/fraud.toml \
		--connector-jars .cache/jars/flink-connectors \
		--checkpoint-dir .run/checkpoints/feature-job

# Triton's perf_analyzer on the pipeline's served model, and the onnxruntime in-process ceiling.
bench-model: up
	@$(RTAI) bench model

# The inference job on the embedded MiniCluster, against the running stack, until Ctrl-C.
inference-job: up
	@mkdir -p .run/data/$@/tmp && TMPDIR=$(CURDIR)/.run/data/$@/tmp $(VENV)/bin/python -m flink_jobs.jobs.fraud_scoring --pipeline pipelines/fraud.toml \
		--connector-jars .cache/jars/flink-connectors \
		--checkpoint-dir .run/checkpoints/inference-job

# Every benchmark in one run (about an hour): the inference job, its floor and the asyncio peer
# three times interleaved (medians and spreads), the naive baseline, perf_analyzer and onnxruntime,
# the feature job with each push writer (Redis for the JVM's), the scoring API. Starts the stack
# and prepares what is missing.
bench: setup-redis
	@$(RTAI) bench all $(BENCH_ARGS)

# The scoring API under an open-loop load: p50/p99/p999 per rate and the maximum sustained rate.
bench-api: up
	@$(RTAI) bench api

# A hot card against the same burst spread over ordinary cards, three runs each interleaved
# (about 8 minutes): tests/benchmarks/test_hot_key_isolation.py, results in bench/results/.
bench-hot-keys: up
	@$(VENV)/bin/python -m pytest -q -s tests/benchmarks/test_hot_key_isolation.py

# The inference job without and with a shadow version, 3 runs each, interleaved.
bench-shadow: up
	@$(RTAI) bench shadow

# Feature freshness at 1,000 events/s and the feature job's maximum sustained rate.
bench-features: up
	@$(RTAI) bench features

# The fraud pipeline end to end (starts the stack, prepares features and model, runs both jobs,
# publishes for 60 s, prints the summary, stops the stack). DEMO_ARGS="--keep-up --rate 500" etc.
demo: setup-monitoring
	@$(RTAI) demo $(if $(SECURE),--secure) $(DEMO_ARGS)

# The fast tier: unit tests that need no server (tests/unit), in seconds.
test-fast: setup
	@$(VENV)/bin/python -m pytest -q tests/unit

# Every test: the fast tier first, so a broken unit fails in seconds; then the integration tests
# against the real servers they start (the whole stack, Redis included).
test: setup-services test-fast
	@$(VENV)/bin/python -m pytest -rs --ignore=tests/unit --ignore=tests/faults --ignore=tests/benchmarks $(PYTEST_ARGS)

# The project's images, built here on a Debian base made with debootstrap (scripts/container-images.sh,
# as root: it installs and starts a Docker engine if none answers). Cached: a second run builds nothing.
images: setup
	@bash scripts/container-images.sh

# The integration tests that start services, with Pulsar, Redis, the Feast server and Triton in
# containers from those images (pytest --stack=containers; the Flink jobs stay local processes).
# The other test files start no service: they run once, in `make test`.
CONTAINER_TESTS := tests/test_pulsar.py tests/test_feast.py tests/test_redis_profile.py tests/test_triton.py \
	tests/test_triton_client.py tests/test_model_registry.py tests/test_flink_pulsar.py tests/test_feature_job.py \
	tests/test_inference_job.py tests/test_live_fuzz.py
test-containers: images
	@$(VENV)/bin/python -m pytest -rs --stack=containers $(CONTAINER_TESTS) $(PYTEST_ARGS)

# The whole stack as containers (infra/docker/compose.yaml, the images of `make images`), both jobs
# submitted to its Flink cluster; the model must be registered in triton_repo/ first (make demo
# or rtai model train/register).
compose-up: images
	@bash scripts/compose.sh up

compose-down:
	@bash scripts/compose.sh down

# Faults under load (about 25 minutes here; 40 s of load per phase): both jobs on a Flink cluster at 1,000 events/s, one fault
# per phase (TaskManager and JobManager kill -9, the JobManager with its supervisor, Pulsar restart
# and kill -9, Feast and Triton down 30 s, every process of the stack kill -9 then stack up, a 10x
# burst), then a cluster that lost its jobs reported; figures in .run/data/faults/.
faults: setup
	@$(VENV)/bin/python -m pytest -rs -s tests/faults $(PYTEST_ARGS)

# Edge (as root: network namespaces): an edge and a core Pulsar in namespaces of their own, the
# inference job scoring in process at the edge at 200 events/s, the link between the sites cut for
# EDGE_CUT_S seconds and restored, then a cut past a 1 MB backlog quota; the summary (scored during
# the cut, forwarded, lost, duplicated, catch-up, footprint) printed and in .run/data/edge/.
EDGE_CUT_S ?= 300
edge-demo: setup
	@RTAI_EDGE_CUT_S=$(EDGE_CUT_S) $(VENV)/bin/python -m pytest -rs -s tests/test_edge.py $(PYTEST_ARGS)

# Every kustomization of infra/k8s applied with server-side dry run to a real kube-apiserver and
# etcd (built from their Go modules on first use: about 5 min on 2 cores; needs Go). Outside
# `make test`: CI's time has no room for the build, and the tests check the same manifests offline.
k8s-dry-run: setup-services
	@$(RTAI) k8s dry-run

lint: setup
	@$(VENV)/bin/ruff check flink_jobs rtai tests infra feature_repo
	@$(VENV)/bin/ruff format --check flink_jobs rtai tests infra feature_repo

# Re-resolve the exact pins of the three environments (needs uv from `make setup`).
lock:
	.venvs/tools/bin/uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_35 -o infra/envs/flink.lock
	.venvs/tools/bin/uv pip compile infra/envs/feast.in --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_35 -o infra/envs/feast.lock
	.venvs/tools/bin/uv pip compile infra/envs/triton.in --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_35 -o infra/envs/triton.lock
	.venvs/tools/bin/uv pip compile infra/envs/model.in --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_35 -o infra/envs/model.lock

clean: down
	rm -rf .run
