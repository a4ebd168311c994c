"""Each construct alone, in a bare stack (no cdk-nag, no config beyond the defaults)."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_stepfunctions as sfn

from infra.config import Config, from_context


@pytest.fixture
def stack() -> Stack:
    return Stack(App(), "Bare")


@pytest.fixture(scope="session")
def config() -> Config:
    return from_context({})


def machine(stack: Stack, name: str) -> sfn.StateMachine:
    """A stand-in state machine, for a construct that only needs to point at one."""
    return sfn.StateMachine(
        stack,
        name,
        definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, f"{name}Start")),
    )
