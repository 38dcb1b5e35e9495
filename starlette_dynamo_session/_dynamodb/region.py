"""The DynamoDB client a store makes from a session, in the region botocore finds or else in ``AWS_REGION``.

botocore reads the region from ``AWS_DEFAULT_REGION`` and the AWS config file only; the other AWS SDKs, Lambda and
ECS use ``AWS_REGION``. A store honours it wherever botocore alone finds no region.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from botocore.exceptions import NoRegionError

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["REGION_VARIABLE", "MissingRegion", "dynamodb_client"]

REGION_VARIABLE = "AWS_REGION"


class MissingRegion(NoRegionError):
    """No AWS region is configured anywhere botocore or ``AWS_REGION`` would give one.

    A ``botocore.exceptions.NoRegionError``, so code that catches botocore's error catches this one, with a message
    that says what to set.
    """

    fmt = (
        "no AWS region for DynamoDB: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS config file), "
        "or pass boto3.Session(region_name=...) or DynamoStore(config=Config(region_name=...))"
    )


def dynamodb_client(session: boto3.Session, config: Config) -> DynamoDBClient:
    """A DynamoDB client made from ``session`` with ``config``, in the region botocore resolves (the Config's, then
    the session's: ``AWS_DEFAULT_REGION``, the profile's), or else ``AWS_REGION``.

    Raises ``MissingRegion`` when none of them names a region.
    """
    if session.region_name or getattr(config, "region_name", None):  # botocore's stubs do not type Config's options
        return session.client("dynamodb", config=config)
    region = os.environ.get(REGION_VARIABLE)
    if not region:
        raise MissingRegion()
    return session.client("dynamodb", config=config, region_name=region)
