"""The rate limits' counters (see `core.security.throttle`)."""

from piccolo.columns import Integer, Varchar
from piccolo.table import Table


class Throttle(Table, tablename="throttle"):
    """Attempt counters per bucket (an address, a client IP) and fixed time window."""

    bucket = Varchar(length=300)
    window_start = Integer(help_text="Unix time of the window's start")
    hits = Integer(default=0)
