"""Errors reported as one line, without a traceback (by the jobs' command line and by `rtai`)."""


class UserFacingError(Exception):
    """A problem the user can fix; its message names the thing and what to do."""
