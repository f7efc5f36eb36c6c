"""Settings of the benchmark server: the product's settings plus the baseline view's URL.

The bench runs gunicorn with DEBUG off, as production does (with DEBUG on, Django keeps every
query of a request in memory). Everything else comes from the environment that bench/run.sh sets.
"""

from blinno.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"
