"""Unit tests build images on a fake engine the two-step way (a base, then the Dockerfile):
a real mmdebstrap run on this machine is the integration tests' (test_onepass covers the
one-pass logic with a stand-in for the tool)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _two_step_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKERLAB_ONE_PASS", "off")
