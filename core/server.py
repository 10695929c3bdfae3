"""The HTTP server that `portail serve` runs: uvicorn, with Python's own asyncio event loop and
httptools' HTTP parser (chosen on `bench/pages.py`'s figures, see docs/performance.md).

Not uvloop: with it, a saturated server served connections unevenly. At 64 connections the
list page's p50 was 60 ms but its p99 1.0 to 2.4 s, and the fixed-data render had the same tail
(so not the database): some requests waited in their socket for dozens of turns of the loop.
With asyncio's loop, on the same runs, p99 was 75 to 110 ms, for about 3 % fewer pages per second
(10 % less on the plain-text route, whose work is almost all loop).

With `workers > 1`, uvicorn's parent process binds the socket and each worker process accepts
connections on it: the kernel hands each new connection to one worker waiting in `accept()`,
and a keep-alive connection stays with the worker that accepted it.

Each serving process builds its app through `serving_app`, which then freezes what start-up
left (`gc.freeze()`): the collector's full collections stop walking the ~175,000 long-lived
objects (modules, routes, templates). Under load each took about 100 ms of CPU, once or twice
in 8 s, a pause every request in flight waited for (the p99 of a page at 64 connections);
frozen, about 2 ms (`gc.callbacks` timings, docs/performance.md "Session 5, round 2").
"""

from __future__ import annotations

import gc
import os
from typing import Any

APP_FACTORY = "core.app:create_app"
# The factory `serving_app` calls, handed to each serving process (uvicorn's workers are new
# processes: they inherit the environment, not the parent's variables).
FACTORY_VARIABLE = "PORTAIL_SERVED_APP_FACTORY"


def serving_app() -> Any:
    """The app of the factory named in `FACTORY_VARIABLE`, built, then start-up's objects
    frozen: later full collections skip them. Garbage is collected first (frozen objects are
    never freed); what start-up keeps lives as long as the process anyway."""
    from uvicorn.importer import import_from_string

    app = import_from_string(os.environ[FACTORY_VARIABLE])()
    gc.collect()
    gc.freeze()
    return app


def run_server(
    host: str,
    port: int,
    *,
    workers: int = 1,
    proxy_headers: bool = False,
    app_factory: str = APP_FACTORY,
    log_level: str = "info",
    log_config: dict[str, Any] | None = None,
) -> None:
    """Serve `app_factory` (a `module:function` returning the ASGI app) until stopped."""
    import uvicorn  # only a serving process needs it: other commands skip its import
    from uvicorn.config import LOGGING_CONFIG

    os.environ[FACTORY_VARIABLE] = app_factory
    uvicorn.run(
        "core.server:serving_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="asyncio",
        http="httptools",
        proxy_headers=proxy_headers,
        log_level=log_level,
        # uvicorn's own logging unless given (`portail serve` cuts link tokens from its lines).
        log_config=log_config if log_config is not None else LOGGING_CONFIG,
    )
