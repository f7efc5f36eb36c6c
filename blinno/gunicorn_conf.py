"""gunicorn's configuration: `make serve`, the image's command and docker-compose's web service.

Threaded workers (gthread): a connection costs a thread while its request runs, never a whole
process, and gunicorn hands a connection whose headers do not arrive back to its poller
instead of holding a thread. A client that declares a body and then stalls holds its thread
for at most ``blinno.wsgi.BODY_DEADLINE_SECONDS`` (see there). The settings come from the
environment, with defaults for one small machine: ``SERVE_ADDR`` (127.0.0.1:8000),
``WEB_CONCURRENCY`` worker processes (2), ``WEB_THREADS`` threads each (32), and
``TRUSTED_PROXY_ADDRESSES``, the only peers whose X-Forwarded-Proto gunicorn honours.
"""

import os

bind = [os.environ.get("SERVE_ADDR", "127.0.0.1:8000")]
worker_class = "blinno.gthread.ThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "64"))

# A request that runs longer than this is a hung worker: gunicorn replaces it.
timeout = 30
graceful_timeout = 30
# Idle kept-alive connections wait in the poller, not in a thread; 5 s is enough for a proxy's reuse.
keepalive = 5
# Requests are small: a URL with filters, a few headers, a session cookie.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# Replaced now and then, so a slow leak never grows without bound (metrics survive: PROMETHEUS_MULTIPROC_DIR).
max_requests = 10_000
max_requests_jitter = 1_000

# Only the configured reverse proxies may say the request came over HTTPS (the application
# applies the same rule to X-Forwarded-For and X-Forwarded-Proto: core.http).
forwarded_allow_ips = os.environ.get("TRUSTED_PROXY_ADDRESSES", "")

# The access log: path without the query string (staff search terms, such as phone numbers,
# travel in it) and no Referer (which repeats the previous page's query string).
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# No runtime control socket (gunicorn's default is one per user, shared by every server it starts).
control_socket_disable = True
