"""What the stream hands the Firehose transform on AWS, rebuilt locally: a table change as
Kinesis Data Streams for DynamoDB writes it, the event Firehose gives its Lambda processor, a
Lambda context, and the real transform (functions/firehose_transform) loaded with the
template's environment."""

from __future__ import annotations

import base64
import datetime
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from nrt.template import load_template, resources

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Image = dict[str, AttributeValueTypeDef]  # an item's keys or image, in DynamoDB JSON

TRANSFORM_FUNCTION = "FirehoseTransformFunction"


class StreamChange(TypedDict):
    """The `dynamodb` section of a change record, as Kinesis Data Streams for DynamoDB writes it."""

    ApproximateCreationDateTime: int  # epoch milliseconds
    Keys: Image
    SizeBytes: int
    ApproximateCreationDateTimePrecision: str
    NewImage: NotRequired[Image]
    OldImage: NotRequired[Image]


class ChangeRecord(TypedDict):
    awsRegion: str
    eventID: str
    eventName: str
    userIdentity: None
    recordFormat: str
    tableName: str
    dynamodb: StreamChange
    eventSource: str


class KinesisRecordMetadata(TypedDict):
    sequenceNumber: str
    subsequenceNumber: int
    partitionKey: str
    shardId: str
    approximateArrivalTimestamp: int


class FirehoseRecord(TypedDict):
    recordId: str
    approximateArrivalTimestamp: int
    data: str  # base64
    kinesisRecordMetadata: KinesisRecordMetadata


class FirehoseEvent(TypedDict):
    """What Firehose gives its Lambda processor for records from a Kinesis source."""

    invocationId: str
    sourceKinesisStreamArn: str
    deliveryStreamArn: str
    region: str
    records: list[FirehoseRecord]


class TransformedRecord(TypedDict):
    recordId: str
    result: str  # Ok, Dropped or ProcessingFailed
    data: str  # base64


class TransformResponse(TypedDict):
    """What the processor gives Firehose back: one record for each it was given."""

    records: list[TransformedRecord]


def epoch_ms(moment: datetime.datetime | float | int) -> int:
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return int(moment.timestamp() * 1000)
    return int(moment * 1000) if moment < 10_000_000_000 else int(moment)


def kds_change_record(stream_record: dict[str, Any], table_name: str, region: str) -> ChangeRecord:
    """A DynamoDB Streams record (the local stream's, as the store keeps it) as Kinesis Data
    Streams for DynamoDB writes it."""
    ddb = stream_record["dynamodb"]
    change: StreamChange = {
        "ApproximateCreationDateTime": epoch_ms(ddb["ApproximateCreationDateTime"]),
        "Keys": ddb["Keys"],
        "SizeBytes": ddb.get("SizeBytes", 1),
        "ApproximateCreationDateTimePrecision": "MILLISECOND",
    }
    if "NewImage" in ddb:
        change["NewImage"] = ddb["NewImage"]
    if "OldImage" in ddb:
        change["OldImage"] = ddb["OldImage"]
    return {
        "awsRegion": region,
        "eventID": stream_record["eventID"],
        "eventName": stream_record["eventName"],
        "userIdentity": None,
        "recordFormat": "application/json",
        "tableName": table_name,
        "dynamodb": change,
        "eventSource": "aws:dynamodb",
    }


@dataclass
class Pending:
    """A change read from the stream and not yet in the lake."""

    sequence: str
    shard: str
    arrival_ms: int
    data: bytes
    table: str = ""  # the DynamoDB table it changed: which delivery stream (and Glue table) takes it


def firehose_event(pending: list[Pending], stream_arn: str, delivery_arn: str, region: str) -> FirehoseEvent:
    """The event Firehose gives its Lambda processor for records from a Kinesis source."""
    return {
        "invocationId": str(uuid.uuid4()),
        "sourceKinesisStreamArn": stream_arn,
        "deliveryStreamArn": delivery_arn,
        "region": region,
        "records": [
            {
                "recordId": f"{p.shard}:{p.sequence}",
                "approximateArrivalTimestamp": p.arrival_ms,
                "data": base64.b64encode(p.data).decode(),
                "kinesisRecordMetadata": {
                    "sequenceNumber": p.sequence,
                    "subsequenceNumber": 0,
                    "partitionKey": p.shard,
                    "shardId": p.shard,
                    "approximateArrivalTimestamp": p.arrival_ms,
                },
            }
            for p in pending
        ],
    }


@dataclass(frozen=True)
class LambdaContext:
    """What powertools reads from a Lambda context."""

    function_name: str = "firehose_transform"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:firehose_transform"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


Handler = Callable[[FirehoseEvent, LambdaContext], TransformResponse]


def transform_environment(template: dict[str, Any] | None = None) -> dict[str, str]:
    """The transform function's environment, as the template declares it."""
    props = resources(template or load_template())[TRANSFORM_FUNCTION]["Properties"]
    variables = props.get("Environment", {}).get("Variables", {})
    return {str(k): str(v) for k, v in variables.items()}


def load_transform() -> Handler:
    """The real handler, imported with the template's environment."""
    os.environ.update(transform_environment())
    from functions.firehose_transform import app

    handler: Handler = app.handler
    return handler
