"""Who sends a request and where: the account and region that answer it, as AWS decides them.

The region is the one the request is signed for (its SigV4 credential scope). The account is the
one the credentials belong to: an access key ID of exactly 12 digits is that account (the
convention LocalStack follows, handy with the standalone endpoint:
`AWS_ACCESS_KEY_ID=111111111111`); otherwise, when moto runs in this process and made the key (an
STS AssumeRole of a role in another account, say), the account moto gave it; otherwise the
emulator's default account. An unsigned request goes to the default account and region.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass

# Credential=AKID/20260101/eu-west-1/opsworks-cm/aws4_request
_SCOPE = re.compile(r"Credential=([^/,\s]+)(?:/([^/,\s]*)/([^/,\s]*)/)?")
_ACCOUNT_KEY = re.compile(r"\d{12}")
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Caller:
    access_key: str
    account: str
    region: str

    @property
    def arn(self) -> str:
        """The principal, as the service records it (a backup's UserArn)."""
        return f"arn:aws:iam::{self.account}:user/{self.access_key}"


def caller_of(headers: Mapping[str, str], account: str, region: str) -> Caller:
    """The caller of a request with `headers`; `account` and `region`: the defaults."""
    authorization = next((str(v) for k, v in headers.items() if k.lower() == "authorization"), "")
    match = _SCOPE.search(authorization)
    if match is None:
        return Caller(ANONYMOUS, account, region)
    key = match.group(1)
    return Caller(key, account_of(key) or account, match.group(3) or region)


def account_of(access_key: str) -> str | None:
    """The account `access_key` belongs to, when known: 12 digits, or a key moto made."""
    if _ACCOUNT_KEY.fullmatch(access_key):
        return access_key
    return _moto_account(access_key)


def _moto_account(access_key: str) -> str | None:
    # Only when moto is loaded: a moto in another process (a moto server) cannot be asked, and
    # importing it here would make the standalone endpoint depend on it.
    models = sys.modules.get("moto.iam.models")
    if models is None:
        return None
    with suppress(Exception):  # moto's internals, not a contract: unknown on any surprise
        account: str = models.get_account_id_from(access_key)
        # moto answers its default account (123456789012, the emulator's too) for a key it does
        # not know: that is the emulator's default.
        if account != models.DEFAULT_ACCOUNT_ID:
            return account
    return None
