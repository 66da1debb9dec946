"""DynamoDB and its streams: atomic conditional writes; items sized once; condition expressions
lexed once per text; GetRecords pages dumped as they are."""

from __future__ import annotations

import calendar
import datetime
import functools
import threading
from collections import deque
from typing import Any

from nrt.emulator.registry import (
    patch,
    replace_attr,
)
from nrt.emulator.wiring import wired

# --- atomic writes -----------------------------------------------------------------------------

_WRITES = threading.RLock()


@patch(
    "fidelity",
    "a conditional write is atomic",
    "tests/workflow/test_emulator.py::test_concurrent_conditional_writes_of_one_key_let_exactly_one_through",
    upstream="docs/upstream/atomic-writes.md (not filed)",
)
def _patch_atomic_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    # DynamoDB evaluates a write's condition and applies the write as one step. moto checks,
    # then writes, in Python: two executions writing the same key at once could both pass
    # attribute_not_exists. One lock over the table-writing calls restores the guarantee.
    # The runtime's write check (faults) sees each call first: a refused write writes nothing.
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, __original: Any = original, __name: str = name, **kwargs: Any) -> Any:
            check = wired().write_check
            if check is not None:
                check(__name)
            with _WRITES:
                return __original(self, *args, **kwargs)

        replace_attr(DynamoDBBackend, name, functools.wraps(original)(atomic))


# --- items and stream records are not kept for moto's dashboard ------------------------------


@patch(
    "speed",
    "DynamoDB items and stream records are not held for moto's dashboard",
    "tests/workflow/test_kept_tables.py::test_thousands_of_stored_items_hold_nothing_in_the_embedded_dynamodb",
)
def _patch_untracked_items() -> None:
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord

    # moto appends every model instance it makes to its class's `instances_tracked`, for the
    # server's dashboard (/moto-api/data.json), and never lets go: every item ever written,
    # read from a table, copied for a Query's answer or refused by a condition, and every
    # stream record, stays in memory for the life of the process (2 objects, ~8 KB, per
    # stored prediction). These two classes are made unseen by the dashboard, as their
    # tables (DescribeTable, Scan) still show them; every other model is tracked as before.
    original = BaseModel.__new__
    untracked = (Item, StreamRecord)  # what moto makes per item written or read

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        if cls in untracked:
            return object.__new__(cls)
        return original(cls, *args, **kwargs)

    replace_attr(BaseModel, "__new__", staticmethod(functools.wraps(original)(__new__)))


# --- GetRecords on DynamoDB Streams ------------------------------------------------------------


def epoch_seconds(value: Any) -> float:
    """A naive UTC datetime as epoch seconds, cut to the millisecond as the Smithy rules (and
    moto's serializer) cut it."""
    if isinstance(value, datetime.datetime):
        whole = calendar.timegm(value.utctimetuple())
        return whole + (value.microsecond // 1000) / 1000.0 if value.microsecond else whole
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --- items are typed and sized once ------------------------------------------------------------


@patch(
    "speed",
    "an item's size is summed once per attribute",
    "tests/workflow/test_emulator_speed.py::test_an_item_s_size_is_summed_once_per_attribute_and_an_item_over_the_limit_is_still_refused",
)
def _patch_item_size() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    # moto's LimitedSizeDict checks the 400 KB limit as each attribute goes in by summing the
    # size of every attribute already there: quadratic in the attributes, and each map's size
    # re-types its values. A prediction's item (the reading, the answer, every label's
    # probability) paid most of its PutItem there. The same sums, each attribute once, with
    # the same refusal at the same attribute.
    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        total = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            total += bytesize(key) + typed.size()
            if total > ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, typed)

    replace_attr(Item, "__init__", functools.wraps(Item.__init__)(__init__))


# moto's limit on an item (dynamo_type.LimitedSizeDict): between AWS's 400 KB and the 409 to
# 410 KB moto measured AWS to take.
ITEM_SIZE_LIMIT = 405000


# --- condition expressions are lexed once per text ---------------------------------------------


@patch(
    "speed",
    "a condition expression's text is split into tokens once",
    "tests/workflow/test_emulator_speed.py::test_a_condition_expression_is_lexed_once_per_text_and_still_judged_on_each_write_s_values",
)
def _patch_condition_lexing() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    # moto splits a ConditionExpression into tokens with a list of regular expressions built
    # again for every token of every write: half of the condition's cost in each conditional
    # PutItem (the claim, the prediction). The tokens depend on the text alone (names and
    # values are bound after, in _parse_paths) and are immutable named tuples, so the tokens
    # of each text are kept and every parse gets its own deque of them, each token with a list
    # of children of its own, as moto's lexer gives it. A text moto cannot lex raises as
    # before, every time (lru_cache keeps no exception).
    lex = ConditionExpressionParser._lex_condition_expression
    node = ConditionExpressionParser.Node

    @functools.lru_cache(maxsize=LEXED_EXPRESSIONS)
    def tokens(text: str) -> tuple[tuple[Any, Any, Any, Any], ...]:
        return tuple(token[:4] for token in lex(ConditionExpressionParser(text, None, None)))

    def _lex_condition_expression(self: Any) -> deque[Any]:
        return deque(node(*token, []) for token in tokens(self.condition_expression))

    replace_attr(
        ConditionExpressionParser,
        "_lex_condition_expression",
        functools.wraps(lex)(_lex_condition_expression),
    )


# The distinct condition expressions kept lexed: the template's tables use a handful.
LEXED_EXPRESSIONS = 256
