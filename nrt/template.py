"""Read template.yaml (the truth) and resolve what the local runtime needs from it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

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


@cache
def partition(region: str) -> dict[str, Any]:
    """The AWS partition a region belongs to (name `partition`, URL suffix `dnsSuffix`), from
    botocore's endpoint data: aws, aws-cn (amazonaws.com.cn), aws-us-gov, the ISO ones."""
    from botocore.regions import EndpointResolver

    data = _endpoint_data()
    name = EndpointResolver(data).get_partition_for_region(region)
    found: dict[str, Any] = next(p for p in data["partitions"] if p["partition"] == name)
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
    template = template or load_template()
    params = ctx.parameter_values(template)

    def condition(name: str) -> bool:
        return truth(template["Conditions"][name])

    def truth(expr: Any) -> bool:
        if isinstance(expr, Tag):
            args = expr.value
            if expr.name == "Equals":
                return bool(resolve(args[0], ctx, template) == resolve(args[1], ctx, template))
            if expr.name == "Not":
                return not truth(args[0])
            if expr.name == "And":
                return all(truth(a) for a in args)
            if expr.name == "Or":
                return any(truth(a) for a in args)
            if expr.name == "Condition":
                return condition(str(args))
        raise KeyError(f"condition {expr!r} is not evaluated locally")

    def ref(name: str) -> str:
        if name in params:
            return params[name]
        if name in ctx.refs:
            return ctx.refs[name]
        raise KeyError(f"template reference {name!r} has no local value")

    def get_att(target: str) -> str:
        name, _, attr = target.partition(".")
        if attr == "Arn" and name in ctx.refs:
            return table_arn(ctx, ctx.refs[name]) if _is_table(template, name) else ctx.refs[name]
        raise KeyError(f"!GetAtt {target} has no local value")

    def sub(text: str, variables: dict[str, Any] | None = None) -> str:
        local = {k: str(resolve(v, ctx, template)) for k, v in (variables or {}).items()}

        def repl(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr in local:
                return local[expr]
            return get_att(expr) if "." in expr and "::" not in expr else ref(expr)

        # ${!name} is CloudFormation's escape for a literal ${name}.
        return re.sub(r"\$\{([^}!]+)\}", repl, text).replace("${!", "${")

    if isinstance(value, Tag):
        if value.name == "Ref":
            return ref(str(value.value))
        if value.name == "Sub":
            if isinstance(value.value, str):
                return sub(value.value)
            return sub(value.value[0], value.value[1])
        if value.name == "If":
            name, then, otherwise = value.value
            return resolve(then if condition(name) else otherwise, ctx, template)
        if value.name == "FindInMap":
            mapping, key, attribute = (resolve(v, ctx, template) for v in value.value)
            return template["Mappings"][mapping][key][attribute]
        if value.name == "Join":
            separator, items = value.value
            return str(separator).join(str(i) for i in resolve(items, ctx, template))
        if value.name == "Split":
            separator, text = value.value
            return str(resolve(text, ctx, template)).split(str(separator))
        if value.name == "GetAtt":
            return get_att(value.value if isinstance(value.value, str) else ".".join(value.value))
        raise KeyError(f"intrinsic !{value.name} is not resolved locally")
    if isinstance(value, dict):
        return {k: resolve(v, ctx, template) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ctx, template) for v in value]
    return value


def _is_table(template: dict[str, Any], name: str) -> bool:
    return bool(resources(template)[name]["Type"] == "AWS::DynamoDB::Table")


def table_arn(ctx: LocalContext, table_name: str) -> str:
    return f"arn:aws:dynamodb:{ctx.region}:{ctx.account}:table/{table_name}"


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
