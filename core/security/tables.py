"""The rate limits' counters (see `core.security.throttle`)."""

from piccolo.columns import Integer, Serial, Varchar
from piccolo.table import Table


class Throttle(Table, tablename="throttle"):
    """Attempt counters per bucket (an address, a client IP) and fixed time window."""

    id: Serial  # added by Piccolo; declared for the type checker

    bucket = Varchar(length=300)
    window_start = Integer(help_text="Unix time of the window's start")
    hits = Integer(default=0)
