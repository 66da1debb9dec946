"""The prediction cache's setting per model (`nrt deploy-model --cache SECONDS`), kept in the
stack's CacheTable where the inference workflow reads it on every request.

The setting names the endpoint config now serving (`version`), and entries are keyed by it, so
a new model version never serves an old one's answer: before an endpoint switches to a new
config the setting's version is removed (the cache pauses), and only once the new config is
InService is the setting written again with it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from functions.list_models.models import CACHE_TAG  # GET /models shows the setting by this tag
from nrt.ops.target import DeployError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["CACHE_TAG", "MAX_CACHE_SECONDS", "CacheSetting", "enable", "pause"]

# A week at most: longer adds stored entries, not hits (a retrained version misses anyway).
MAX_CACHE_SECONDS = 7 * 86_400


def setting_key(endpoint: str) -> dict[str, dict[str, str]]:
    return {"key": {"S": f"setting#{endpoint}"}}


def pause(ddb: DynamoDBClient, table: str, endpoint: str) -> None:
    """Remove the setting's version, if there is a setting: the workflow scores uncached until
    `enable` names the config that serves."""
    try:
        ddb.update_item(
            TableName=table,
            Key=setting_key(endpoint),
            UpdateExpression="REMOVE version",
            ConditionExpression="attribute_exists(#k)",
            ExpressionAttributeNames={"#k": "key"},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def enable(ddb: DynamoDBClient, table: str, endpoint: str, version: str, seconds: int) -> None:
    """Answers of `version` (the endpoint config InService now) are kept `seconds`; 0 turns the cache off."""
    if seconds <= 0:
        ddb.delete_item(TableName=table, Key=setting_key(endpoint))
        return
    ddb.put_item(
        TableName=table,
        Item={
            **setting_key(endpoint),
            "seconds": {"N": str(seconds)},
            # the entry's TTL (DynamoDB's deletion only) is counted in hundreds of seconds in the ASL
            "hundreds": {"N": str(math.ceil(seconds / 100))},
            "version": {"S": version},
        },
    )


@dataclass(frozen=True)
class CacheSetting:
    """Where a deploy writes a model's setting, and the seconds (0: off)."""

    ddb: DynamoDBClient
    table: str
    seconds: int

    def check(self, wait: bool) -> None:
        if not 0 <= self.seconds <= MAX_CACHE_SECONDS:
            raise DeployError(f"--cache must be 0 (off) to {MAX_CACHE_SECONDS} seconds")
        if self.seconds and not wait:
            raise DeployError("--cache needs the wait: the setting names the version only once it is InService")
