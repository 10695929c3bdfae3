"""The HTTP server that `portail serve` runs: uvicorn, with uvloop's event loop and httptools'
HTTP parser (chosen on `bench/pages.py`'s figures, see docs/performance.md).

With `workers > 1`, uvicorn's parent process binds the socket and each worker process accepts
connections on it: the kernel hands each new connection to one worker waiting in `accept()`,
and a keep-alive connection stays with the worker that accepted it.
"""

from __future__ import annotations

from typing import Any

APP_FACTORY = "core.app:create_app"


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

    uvicorn.run(
        app_factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=proxy_headers,
        log_level=log_level,
        # uvicorn's own logging unless given (`portail serve` cuts link tokens from its lines).
        log_config=log_config if log_config is not None else LOGGING_CONFIG,
    )
