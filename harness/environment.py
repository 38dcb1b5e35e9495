"""An environment in which nothing reaches real AWS: for the test process, and for every process that the tests or
the benchmark start."""

from __future__ import annotations

import os
from collections.abc import Mapping

REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def is_aws_setting(name: str) -> bool:
    """Whether the environment variable ``name`` configures boto3 or botocore (``AWS_*``, ``BOTO_*``)."""
    return name.startswith(("AWS_", "BOTO_"))


def without_aws(environ: Mapping[str, str], *, credentials: bool = True) -> dict[str, str]:
    """A copy of ``environ`` in which nothing can reach real AWS.

    Every ``AWS_*`` and ``BOTO_*`` setting is removed (profiles, endpoint URLs, tokens included); the AWS config and
    credentials files become an empty file, the instance metadata service is off and the region is ``us-east-1``.
    Fake credentials are added unless ``credentials`` is false (a newcomer's machine, as ``python -m demo_app`` is
    tested on).
    """
    clean = {name: value for name, value in environ.items() if not is_aws_setting(name)}
    clean.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION=REGION,
    )
    if credentials:
        clean.update(FAKE_CREDENTIALS)
    return clean
