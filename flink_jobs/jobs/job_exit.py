"""How a job's process ends when Flink gives up on the job: one line saying so and why, exit status 1.

Flink gives up when the restart strategy is exhausted (more failures within the interval than
the pipeline config allows), or at once for an error it never restarts on. The Java exception
reaches Python as a chain of causes; the line names the strategy's verdict and the root cause,
whose last line is the Python exception when an operator raised one.
"""

from __future__ import annotations

import logging
import sys

from pyflink.datastream import StreamExecutionEnvironment

LOG = logging.getLogger("flink_jobs.job")
MAX_CAUSE_CHARS = 500


def execute(env: StreamExecutionEnvironment, job_name: str) -> None:
    try:
        env.execute(job_name)
    except Exception as err:  # the job is over whatever the error: say why in one line
        LOG.critical("job %r failed for good: %s", job_name, failure_summary(err))
        sys.exit(1)


def failure_summary(err: BaseException) -> str:
    messages = _cause_messages(getattr(err, "java_exception", None)) or [str(err)]
    verdict = next((m.splitlines()[0] for m in messages if "Recovery is suppressed" in m), None)
    root = [line for line in messages[-1].splitlines() if line.strip()] or [messages[-1]]
    cause = root[-1].strip()[:MAX_CAUSE_CHARS]
    return f"{verdict}; root cause: {cause}" if verdict else f"root cause: {cause}"


def _cause_messages(java_exception: object) -> list[str]:
    messages, seen = [], 0
    while java_exception is not None and seen < 50:  # a cause chain can loop
        messages.append(str(java_exception.toString()))
        java_exception, seen = java_exception.getCause(), seen + 1
    return messages
