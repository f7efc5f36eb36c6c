"""The ClickPesa webhook samples kept with the documentation (docs/clickpesa/samples), for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = REPO_ROOT / "docs" / "clickpesa" / "samples" / "webhooks"
ANSWERS_DIR = REPO_ROOT / "docs" / "clickpesa" / "samples" / "answers"
SAMPLE_KEY = "test-checksum-key"
"""The checksum key every sample is signed with (docs/clickpesa.md)."""


def sample_names() -> list[str]:
    """File names of every sample, sorted; fails loudly when the directory is not there."""
    names = sorted(path.name for path in SAMPLES_DIR.glob("*.json"))
    if not names:
        raise FileNotFoundError(f"no ClickPesa samples in {SAMPLES_DIR}")
    return names


def sample_bytes(name: str) -> bytes:
    """The raw bytes of sample ``name`` (for example ``"payment_received.json"``)."""
    return (SAMPLES_DIR / name).read_bytes()


def sample(name: str) -> dict[str, Any]:
    """Sample ``name`` parsed into a fresh dict the caller may change."""
    return json.loads(sample_bytes(name))


def answer(name: str) -> Any:
    """A sample API answer (``docs/clickpesa/samples/answers``) parsed into fresh objects."""
    return json.loads((ANSWERS_DIR / name).read_text(encoding="utf-8"))
