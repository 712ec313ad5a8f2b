"""Errors the CLI reports as one line, without a traceback."""


class UserFacingError(Exception):
    """A problem the user can fix; its message names the thing and what to do."""


class PrerequisiteError(UserFacingError):
    """A program the project needs is missing or too old."""
