"""The store's region: botocore's order first (Config, then the session: AWS_DEFAULT_REGION, the profile), then
AWS_REGION, which botocore does not read; without any, one clear error."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import NoRegionError

from starlette_dynamo_session import DynamoStore


@pytest.fixture
def only_aws_region(monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS_REGION is set and AWS_DEFAULT_REGION is not, as on Lambda or ECS with no region in any file."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    return "eu-central-1"


def test_with_only_aws_region_set_the_store_uses_it(only_aws_region: str) -> None:
    assert DynamoStore().client.meta.region_name == only_aws_region


def test_with_only_aws_region_set_a_store_on_a_session_uses_it(only_aws_region: str) -> None:
    assert DynamoStore(boto3.Session()).client.meta.region_name == only_aws_region


def test_aws_default_region_wins_over_aws_region(only_aws_region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert DynamoStore().client.meta.region_name == "ca-central-1"


def test_the_sessions_region_wins_over_aws_region(only_aws_region: str) -> None:
    assert DynamoStore(boto3.Session(region_name="sa-east-1")).client.meta.region_name == "sa-east-1"


def test_the_profiles_region_wins_over_aws_region(
    only_aws_region: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ap-northeast-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert DynamoStore().client.meta.region_name == "ap-northeast-1"


def test_the_configs_region_wins_over_every_other(only_aws_region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    store = DynamoStore(boto3.Session(region_name="sa-east-1"), config=Config(region_name="eu-north-1"))
    assert store.client.meta.region_name == "eu-north-1"


def test_with_only_aws_region_set_the_store_creates_and_reads_its_table_there(only_aws_region: str, aws: None) -> None:
    store = DynamoStore(table_name="regional")
    store.create_table()
    assert boto3.client("dynamodb", region_name=only_aws_region).list_tables()["TableNames"] == ["regional"]
    store.ping()


def test_without_any_region_the_store_raises_one_line_that_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(NoRegionError) as raised:
        DynamoStore()
    message = str(raised.value)
    assert message == (
        "no AWS region for DynamoDB: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS config file), "
        "or pass boto3.Session(region_name=...) or DynamoStore(config=Config(region_name=...))"
    )


def test_an_empty_aws_region_is_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "")
    with pytest.raises(NoRegionError, match="set AWS_REGION"):
        DynamoStore()


def test_a_store_on_a_client_of_its_own_never_asks_for_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3.client("dynamodb", region_name="us-west-2")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert DynamoStore(client=client).client.meta.region_name == "us-west-2"
