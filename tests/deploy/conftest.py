"""Fixtures of the deployment tests: the app tests' spoken WAVs (espeak-ng + sox)."""

from tests.app.conftest import speech

__all__ = ["speech"]
