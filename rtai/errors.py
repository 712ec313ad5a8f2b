"""The tooling's own errors; `rtai` prints every UserFacingError as one line."""

from flink_jobs.errors import UserFacingError


class PrerequisiteError(UserFacingError):
    """A program the project needs is missing or too old."""
