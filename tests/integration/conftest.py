"""The integration tests' cloud: the emulator, and moto for the rest (tests/support/fleet.py)."""

from tests.support.fleet import cloud, paced

__all__ = ["cloud", "paced"]
