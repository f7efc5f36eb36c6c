"""Reading /metrics in tests: parsed samples, looked up by name and labels."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One GET /metrics, parsed."""

    def __init__(self, text: str) -> None:
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when the series does not exist (a counter never incremented)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str) -> bool:
        return any(key[0] == name for key in self.samples)


@pytest.fixture
def scrape():
    def read(client: Client | None = None) -> Scrape:
        response = (client or Client()).get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        return Scrape(response.content.decode())

    return read


@pytest.fixture(autouse=True)
def _configured(settings):
    """A configured service: the tests run with DEBUG off, where no checksum key makes /healthz 503."""
    settings.CLICKPESA_CHECKSUM_KEY = "checksum-key"
