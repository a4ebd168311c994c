"""A botocore handler that every client made while it is installed gets: how the local cloud
answers some calls itself (the stack's functions, IAM's trust checks) in front of moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import boto3
import botocore.handlers


class BuiltinHook:
    """`handler` on `event` (a botocore event name), for the clients made between `install`
    and `uninstall`."""

    def __init__(self, event: str, handler: Callable[..., Any]) -> None:
        self._entry = (event, handler)

    def install(self) -> Self:
        botocore.handlers.BUILTIN_HANDLERS.append(self._entry)
        # The default session read the handler list when it was made; start a fresh one.
        boto3.DEFAULT_SESSION = None
        return self

    def uninstall(self) -> None:
        if self._entry in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.remove(self._entry)
        boto3.DEFAULT_SESSION = None
