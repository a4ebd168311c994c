"""An emulator of AWS OpsWorks CM, faithful to its API model, served over HTTP or in-process."""

from local.emulator.backend import Backend, EmulatorConfig
from local.emulator.clock import ManualClock, SystemClock
from local.emulator.inprocess import InProcessEndpoint
from local.emulator.wire import Call, Emulator

__all__ = [
    "Backend",
    "Call",
    "Emulator",
    "EmulatorConfig",
    "InProcessEndpoint",
    "ManualClock",
    "SystemClock",
]
