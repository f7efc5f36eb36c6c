"""Benchmarks of the money service (``make bench``); see README.md. Never imported by the product."""
