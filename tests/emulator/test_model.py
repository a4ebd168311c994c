"""The API model carried as data: complete, documentation-free, and loadable by current boto3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import botocore

from scripts.extract_opsworkscm_model import FILES, strip_documentation

MODEL_DIR = Path(__file__).resolve().parents[2] / "lambda" / "models" / "opsworkscm" / "2016-11-01"
ALL_OPERATIONS = {
    "AssociateNode",
    "CreateBackup",
    "CreateServer",
    "DeleteBackup",
    "DeleteServer",
    "DescribeAccountAttributes",
    "DescribeBackups",
    "DescribeEvents",
    "DescribeNodeAssociationStatus",
    "DescribeServers",
    "DisassociateNode",
    "ExportServerEngineAttribute",
    "ListTagsForResource",
    "RestoreServer",
    "StartMaintenance",
    "TagResource",
    "UntagResource",
    "UpdateServer",
    "UpdateServerEngineAttributes",
}


def test_current_botocore_no_longer_ships_the_client() -> None:
    # The reason the project carries the model: if this fails, botocore ships it again.
    data_dir = Path(botocore.__file__).parent / "data" / "opsworkscm"
    assert not data_dir.exists()


def test_boto3_builds_the_client_with_all_19_operations() -> None:
    session: Any = boto3.session.Session(region_name="eu-west-1")
    client = session.client("opsworkscm")
    assert set(client.meta.service_model.operation_names) == ALL_OPERATIONS
    assert client.meta.endpoint_url == "https://opsworks-cm.eu-west-1.amazonaws.com"
    assert client.can_paginate("describe_events")


def test_model_files_carry_no_documentation() -> None:
    for name in FILES:
        text = (MODEL_DIR / name).read_text()
        assert '"documentation"' not in text, name
        json.loads(text)


def test_strip_documentation_removes_it_at_every_depth() -> None:
    document = {
        "documentation": "x",
        "shapes": {"A": {"type": "string", "documentation": "y"}},
        "list": [{"documentation": "z", "keep": 1}],
    }
    assert strip_documentation(document) == {
        "shapes": {"A": {"type": "string"}},
        "list": [{"keep": 1}],
    }
