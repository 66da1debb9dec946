"""boto3 clients typed by service name: `client("dynamodb")` is a DynamoDBClient to mypy (the
maintained mypy-boto3 stubs, a dev dependency), whoever makes the client: the embedded AWS or
a stack, local or deployed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient


class TypedClients:
    """`client(service)` typed per service; a subclass makes the client in `make_client`."""

    @overload
    def client(self, service: Literal["cloudformation"]) -> CloudFormationClient: ...
    @overload
    def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def client(self, service: Literal["sagemaker"]) -> SageMakerClient: ...
    @overload
    def client(self, service: Literal["sagemaker-runtime"]) -> SageMakerRuntimeClient: ...
    @overload
    def client(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    def client(self, service: Literal["stepfunctions"]) -> SFNClient: ...
    @overload
    def client(self, service: str) -> BaseClient: ...
    def client(self, service: str) -> Any:
        """The service's boto3 client."""
        return self.make_client(service)

    def make_client(self, service: str) -> Any:
        raise NotImplementedError
