"""Read template.yaml (the truth) and resolve what the local runtime needs from it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"
LOCAL_STACK = "nrt-local"


@dataclass(frozen=True)
class Tag:
    """A CloudFormation short-form intrinsic such as !Ref or !Sub, kept as data."""

    name: str
    value: Any


class _Loader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tag:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return Tag(suffix, value)


_Loader.add_multi_constructor("!", _construct_tag)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data; intrinsics stay as Tag values."""
    with path.open() as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=_Loader)
    return data


def resources(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The Resources section."""
    res: dict[str, dict[str, Any]] = (template or load_template())["Resources"]
    return res


@cache
def _endpoint_data() -> dict[str, Any]:
    from botocore.loaders import create_loader

    data: dict[str, Any] = create_loader().load_data("endpoints")
    return data


class Partition(TypedDict):
    """What the template needs of a partition in botocore's endpoint data (which says more)."""

    partition: str  # aws, aws-cn, aws-us-gov, ...
    dnsSuffix: str  # amazonaws.com, amazonaws.com.cn, ...


@cache
def partition(region: str) -> Partition:
    """The AWS partition a region belongs to (name `partition`, URL suffix `dnsSuffix`), from
    botocore's endpoint data: aws, aws-cn (amazonaws.com.cn), aws-us-gov, the ISO ones."""
    from botocore.regions import EndpointResolver

    data = _endpoint_data()
    name = EndpointResolver(data).get_partition_for_region(region)
    found: Partition = next(p for p in data["partitions"] if p["partition"] == name)
    return found


@dataclass
class LocalContext:
    """Values of pseudo parameters, parameters and resource references in the local stack."""

    stack_name: str = LOCAL_STACK
    region: str = LOCAL_REGION
    account: str = LOCAL_ACCOUNT
    parameters: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def parameter_values(self, template: dict[str, Any]) -> dict[str, str]:
        values = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
        values.update(self.parameters)
        values.update(
            {
                "AWS::StackName": self.stack_name,
                "AWS::Region": self.region,
                "AWS::AccountId": self.account,
                "AWS::Partition": partition(self.region)["partition"],
                "AWS::URLSuffix": partition(self.region)["dnsSuffix"],
            }
        )
        return values


def resolve(value: Any, ctx: LocalContext, template: dict[str, Any] | None = None) -> Any:
    """Resolve the intrinsics the template uses (!Ref, !Sub, !GetAtt ...Arn, !If with its
    Conditions, !FindInMap, !Join, !Split) against the local context."""
    return _Resolver(ctx, template or load_template()).resolve(value)


class _Resolver:
    """One template's intrinsics and conditions, resolved against one local context."""

    def __init__(self, ctx: LocalContext, template: dict[str, Any]) -> None:
        self.ctx = ctx
        self.template = template
        self.params = ctx.parameter_values(template)

    def resolve(self, value: object) -> Any:
        if isinstance(value, Tag):
            intrinsic = _INTRINSICS.get(value.name)
            if intrinsic is None:
                raise KeyError(f"intrinsic !{value.name} is not resolved locally")
            return intrinsic(self, value.value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def condition(self, name: str) -> bool:
        return self.truth(self.template["Conditions"][name])

    def truth(self, expr: object) -> bool:
        if isinstance(expr, Tag) and expr.name in _CONDITIONS:
            return _CONDITIONS[expr.name](self, expr.value)
        raise KeyError(f"condition {expr!r} is not evaluated locally")

    def ref(self, name: str) -> str:
        if name in self.params:
            return self.params[name]
        if name in self.ctx.refs:
            return self.ctx.refs[name]
        raise KeyError(f"template reference {name!r} has no local value")

    def get_att(self, target: str) -> str:
        name, _, attr = target.partition(".")
        refs = self.ctx.refs
        if attr == "Arn" and name in refs:
            if _is_table(self.template, name):
                return table_arn(self.ctx, refs[name])
            return resource_arn(resources(self.template)[name]["Type"], refs[name], self.ctx)
        raise KeyError(f"!GetAtt {target} has no local value")

    def sub(self, text: str, variables: dict[str, Any] | None = None) -> str:
        local = {k: str(self.resolve(v)) for k, v in (variables or {}).items()}

        def repl(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr in local:
                return local[expr]
            return self.get_att(expr) if "." in expr and "::" not in expr else self.ref(expr)

        # ${!name} is CloudFormation's escape for a literal ${name}.
        return re.sub(r"\$\{([^}!]+)\}", repl, text).replace("${!", "${")

    # The intrinsics, each given its tag's value.

    def _ref(self, name: object) -> str:
        return self.ref(str(name))

    def _sub(self, arg: Any) -> str:
        return self.sub(arg) if isinstance(arg, str) else self.sub(arg[0], arg[1])

    def _if(self, arg: Sequence[object]) -> Any:
        name, then, otherwise = arg
        return self.resolve(then if self.condition(str(name)) else otherwise)

    def _find_in_map(self, arg: Sequence[object]) -> Any:
        mapping, key, attribute = (self.resolve(v) for v in arg)
        return self.template["Mappings"][mapping][key][attribute]

    def _join(self, arg: Sequence[object]) -> str:
        separator, items = arg
        return str(separator).join(str(i) for i in self.resolve(items))

    def _split(self, arg: Sequence[object]) -> list[str]:
        separator, text = arg
        return str(self.resolve(text)).split(str(separator))

    def _get_att(self, arg: str | Sequence[str]) -> str:
        return self.get_att(arg if isinstance(arg, str) else ".".join(arg))

    # The condition functions, each given its tag's value.

    def _equals(self, args: Sequence[object]) -> bool:
        return bool(self.resolve(args[0]) == self.resolve(args[1]))

    def _not(self, args: Sequence[object]) -> bool:
        return not self.truth(args[0])

    def _and(self, args: Iterable[object]) -> bool:
        return all(self.truth(a) for a in args)

    def _or(self, args: Iterable[object]) -> bool:
        return any(self.truth(a) for a in args)

    def _condition(self, name: object) -> bool:
        return self.condition(str(name))


_INTRINSICS: dict[str, Callable[[_Resolver, Any], Any]] = {
    "Ref": _Resolver._ref,
    "Sub": _Resolver._sub,
    "If": _Resolver._if,
    "FindInMap": _Resolver._find_in_map,
    "Join": _Resolver._join,
    "Split": _Resolver._split,
    "GetAtt": _Resolver._get_att,
}
_CONDITIONS: dict[str, Callable[[_Resolver, Any], bool]] = {
    "Equals": _Resolver._equals,
    "Not": _Resolver._not,
    "And": _Resolver._and,
    "Or": _Resolver._or,
    "Condition": _Resolver._condition,
}


def _is_table(template: dict[str, Any], name: str) -> bool:
    return bool(resources(template)[name]["Type"] == "AWS::DynamoDB::Table")


def table_arn(ctx: LocalContext, table_name: str) -> str:
    return f"arn:aws:dynamodb:{ctx.region}:{ctx.account}:table/{table_name}"


# Where a resource type keeps its name (a path in its Properties), for the types whose !Ref is
# that name.
_NAME_PATHS: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::Kinesis::Stream": ("Name",),
    "AWS::KinesisFirehose::DeliveryStream": ("DeliveryStreamName",),
    "AWS::Glue::Database": ("DatabaseInput", "Name"),
    "AWS::Glue::Table": ("TableInput", "Name"),
    "AWS::Athena::WorkGroup": ("Name",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::Lambda::Function": ("FunctionName",),
    "AWS::Serverless::Function": ("FunctionName",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::Logs::LogStream": ("LogStreamName",),
}
# What !GetAtt NAME.Arn gives, from the name !Ref gives.
_ARNS: dict[str, str] = {
    "AWS::S3::Bucket": "arn:{partition}:s3:::{name}",
    "AWS::Kinesis::Stream": "arn:{partition}:kinesis:{region}:{account}:stream/{name}",
    "AWS::KinesisFirehose::DeliveryStream": "arn:{partition}:firehose:{region}:{account}:deliverystream/{name}",
    "AWS::Athena::WorkGroup": "arn:{partition}:athena:{region}:{account}:workgroup/{name}",
    "AWS::IAM::Role": "arn:{partition}:iam::{account}:role/{name}",
    "AWS::Lambda::Function": "arn:{partition}:lambda:{region}:{account}:function:{name}",
    "AWS::Serverless::Function": "arn:{partition}:lambda:{region}:{account}:function:{name}",
    "AWS::Logs::LogGroup": "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
}


def resource_arn(resource_type: str, ref: str, ctx: LocalContext) -> str:
    """What !GetAtt X.Arn gives for a resource of this type whose !Ref gives `ref` (kept as it
    is when that is an ARN already, as a state machine's !Ref is)."""
    if ref.startswith("arn:") or resource_type not in _ARNS:
        return ref
    where = {"partition": partition(ctx.region)["partition"], "region": ctx.region, "account": ctx.account}
    return _ARNS[resource_type].format(name=ref, **where)


def references(value: object) -> set[str]:
    """The names a value's intrinsics refer to (!Ref, !GetAtt's resource, !Sub's ${...}):
    logical ids, parameters and pseudo parameters alike."""
    if isinstance(value, Tag):
        if value.name == "Ref":
            return {str(value.value)}
        if value.name == "GetAtt":
            target = value.value if isinstance(value.value, str) else value.value[0]
            return {str(target).split(".")[0]}
        if value.name == "Sub":
            return _sub_references(value.value)
        return references(value.value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*(references(v) for v in value))
    return set()


def _sub_references(arg: str | Sequence[Any]) -> set[str]:
    text, variables = (arg, {}) if isinstance(arg, str) else (str(arg[0]), arg[1])
    named = {expr.split(".")[0] for expr in re.findall(r"\$\{([^}!]+)\}", text)}
    return (named - set(variables)) | references(variables)


def physical_name(logical_id: str, ctx: LocalContext, template: dict[str, Any] | None = None) -> str:
    """The name CloudFormation gives a resource: the one its definition declares, resolved, else
    `<stack>-<LogicalId>` (CloudFormation adds a random suffix, left out here so that every start
    finds the same names; lower case for a bucket). Every resource the declared name refers to
    is named in ctx.refs first."""
    template = template or load_template()
    declared = resources(template)[logical_id]
    kind = str(declared["Type"])
    if kind not in _NAME_PATHS:
        raise KeyError(f"{logical_id}: a {kind} has no local name")
    value: Any = declared.get("Properties", {})
    for key in _NAME_PATHS[kind]:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        generated = f"{ctx.stack_name}-{logical_id}"
        return generated.lower() if kind == "AWS::S3::Bucket" else generated
    name_resources(references(value), ctx, template)
    return str(resolve(value, ctx, template))


def name_resources(names: Iterable[str], ctx: LocalContext, template: dict[str, Any] | None = None) -> None:
    """Give ctx.refs the physical name of each resource among `names` not named yet whose !Ref
    is its name (parameters and pseudo parameters are left to the resolver)."""
    template = template or load_template()
    declared = resources(template)
    for name in sorted(names):
        if name in declared and name not in ctx.refs and declared[name]["Type"] in _NAME_PATHS:
            ctx.refs[name] = physical_name(name, ctx, template)


def state_machine_definition(logical_id: str, ctx: LocalContext) -> str:
    """The ASL file a state machine declares, with its DefinitionSubstitutions filled in."""
    props = resources()[logical_id]["Properties"]
    text: str = (ROOT / props["DefinitionUri"]).read_text()
    subs = resolve(props.get("DefinitionSubstitutions", {}), ctx)
    for key, val in subs.items():
        text = text.replace("${" + key + "}", str(val))
    leftover = re.findall(r"\$\{(\w+)\}", text)
    if leftover:
        raise ValueError(f"{props['DefinitionUri']}: no substitution for {sorted(set(leftover))}")
    json.loads(text)
    return text


def asl_placeholders(path: Path) -> set[str]:
    """The ${Name} placeholders an ASL file expects."""
    return set(re.findall(r"\$\{(\w+)\}", path.read_text()))
