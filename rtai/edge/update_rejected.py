"""An update from the core that an edge site refuses to use (rtai edge sync): the reason, which
is reported; the site keeps what it had."""


class UpdateRejected(Exception):
    pass
