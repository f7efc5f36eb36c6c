"""gunicorn's threaded worker, with connections closed off the worker's event loop.

gunicorn 27's gthread worker closes a connection that is not kept alive on its main loop,
and that close lingers up to two seconds reading from the peer (RFC 9112's graceful close). A
client that stops sending and never closes therefore froze the whole worker for two seconds
per connection: no accept, no finished request handed back. Forty stalled clients stalled
/healthz for longer than a load balancer waits (tests/blinno/test_serve_slow_clients.py).
Here that close runs in the worker's thread pool instead; everything else is gunicorn's.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker


class ThreadWorker(GunicornThreadWorker):
    def finish_request(self, conn: Any, fs: Future) -> None:
        if not fs.cancelled() and fs.exception() is None and not fs.result():
            # The request is over and the connection is not kept alive (the falsy result the
            # parent closes gracefully on this thread).
            self.nr_conns -= 1
            self.tpool.submit(conn.close, graceful=True)
            return
        super().finish_request(conn, fs)
