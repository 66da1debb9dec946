"""`nrt plan`: its arithmetic checked by hand from the stated prices and latencies, its counts
tied to template.yaml and the inference ASL, its output and its refusals."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import math
import re

import pytest

from nrt import cli
from nrt.ops.plan import PlanError, PlanRequest, make_plan, render, to_json
from nrt.ops.plan import hops as h
from nrt.ops.plan.facts import batch_limit, facts, paths, write_paths
from nrt.ops.plan.latency import LATENCIES
from nrt.ops.plan.records import change_record, item_bytes, prediction_item
from nrt.ops.prices import US_EAST_1, Price, Tier, UnpricedRegion, prices_for
from nrt.template import ROOT, load_template
from tests.helpers import load_event

S = 730 * 3600  # the month of AWS's pricing pages, in seconds
P = US_EAST_1
ASL = json.loads((ROOT / "statemachine" / "inference.asl.json").read_text())


def hop(plan, prefix: str) -> h.Hop:
    (found,) = [x for x in plan.hops if x.name.startswith(prefix)]
    return found


def quota(found: h.Hop, code: str) -> h.Quota:
    (match,) = [q for q in found.quotas if q.code == code]
    return match


# --- the arithmetic --------------------------------------------------------------------------


def test_littles_law_is_arrivals_times_the_time_each_stays():
    assert h.little(10_000, 0.0664) == pytest.approx(664)
    assert h.little(0, 5) == 0


def test_shards_are_sized_by_records_or_bytes_whichever_needs_more():
    assert h.shards(2_500, 100) == 3  # 2.5 x 1,000 records/s; 0.24 MB/s
    assert h.shards(500, 4096) == 2  # 2 MB/s; 0.5 x 1,000 records/s
    assert h.shards(10_000, 1774) == math.ceil(10_000 * 1774 / 1024**2)


def test_a_tiered_price_charges_each_tier_for_its_own_units():
    price = Price(3.0, "unit", "https://example.invalid", tiers=(Tier(10, 3.0), Tier(30, 2.0), Tier(None, 1.0)))
    assert price.monthly(5) == 15
    assert price.monthly(40) == 10 * 3 + 20 * 2 + 10 * 1
    assert price.monthly(0) == 0


def test_express_memory_is_billed_in_64_mb_chunks_from_its_definition_and_data():
    plan = make_plan(PlanRequest(rps=100))
    definition = facts().definition_bytes
    assert 50 + definition / 1024**2 < 64  # a single reading fits the first chunk
    assert "64 MB" in hop(plan, "Step Functions").throughput
    # The widest batch (100 readings of 1,000 features, training's limit): 50 MB + the definition
    # + 100 Map steps of a reading and its item, still one chunk.
    wide = make_plan(PlanRequest(rps=100, batch=100, features=1000))
    used = 50 + definition / 1024**2 + 100 * (wide.sizes.request_bytes + wide.sizes.item_bytes) / 1024**2
    assert 50 < used < 64
    assert "64 MB x" in hop(wide, "Step Functions").throughput
    # Steps of 100 KB each would take 50 + 0.04 + 9.8 MB for 100 of them; 300 KB each, a second chunk.
    for step_bytes, billed_mb in ((100_000, 64), (300_000, 128)):
        sizes = dataclasses.replace(wide.sizes, request_bytes=step_bytes, item_bytes=0)
        ctx = h.Ctx(1, 100, "serverless", 2048, "ml.c5.large", False, facts(), sizes, P)
        assert h.express_billed_gb(ctx) * 1024 == billed_mb


def test_at_100_readings_a_second_each_hop_costs_what_its_price_says():
    plan = make_plan(PlanRequest(rps=100))
    requests = 100 * S  # 262.8 M: inside the REST API's first tier
    assert hop(plan, "API Gateway").monthly_usd == pytest.approx(requests * 3.50e-6)
    writes = requests * 1 * plan.sizes.write_units  # one write per reading, 1 KB units
    reads = requests * 0.5  # the cache setting: one eventually consistent read a request
    assert hop(plan, "DynamoDB").monthly_usd == pytest.approx(writes * 0.625e-6 + reads * 0.125e-6)
    # Serverless: memory x billed milliseconds x the GB-second price, plus the data in and out.
    ms = math.ceil(LATENCIES["serverless_overhead"].ms + LATENCIES["model"].ms)
    compute = requests * 2048 / 1024 * ms / 1000 * 0.00002
    data = requests * (plan.sizes.request_bytes + 200) / 1024**3 * 0.016
    assert hop(plan, "SageMaker serverless").monthly_usd == pytest.approx(compute + data)
    # Express: a request each, and 64 MB for the duration rounded up to 100 ms, in GB-hours.
    duration = LATENCIES["express_sync"].ms + LATENCIES["serverless_overhead"].ms + LATENCIES["model"].ms
    gb_hours = requests * math.ceil(duration / 100) / 10 * 64 / 1024 / 3600
    tiered = min(gb_hours, 1000) * 0.06 + min(max(gb_hours - 1000, 0), 4000) * 0.03 + max(gb_hours - 5000, 0) * 0.01642
    assert hop(plan, "Step Functions").monthly_usd == pytest.approx(requests * 1e-6 + tiered)


def test_at_10000_readings_a_second_the_quotas_that_bind_are_named_with_their_codes():
    plan = make_plan(PlanRequest(rps=10_000))
    model = hop(plan, "SageMaker serverless")
    assert model.concurrency == pytest.approx(10_000 * (63.5 + 2.9) / 1000)
    assert model.quota == quota(model, "L-96300102") and model.quota.binds  # 664 of 10
    assert quota(model, "nrt deploy-model --max-concurrency").binds  # 664 of the deploy's 20
    api = hop(plan, "API Gateway")
    assert quota(api, "L-8A5B8E43").binds  # at 100% of 10,000/s
    # The template's usage plan allows an API key 1,000/s: the tighter of the two.
    assert api.quota == quota(api, "parameter ThrottleRateLimit") and api.quota.default == 1_000
    express = hop(plan, "Step Functions")
    assert express.concurrency == pytest.approx(10_000 * (123 + 63.5 + 2.9) / 1000)
    assert express.quota == quota(express, "L-6C9C5312") and not express.quota.binds
    ddb = hop(plan, "DynamoDB")
    assert ddb.quota is not None and ddb.quota.needed == 10_000 * plan.sizes.write_units and ddb.quota.binds
    assert ddb.quota.default == 4_000 and not quota(ddb, "L-AB614373").binds
    # Past the REST API's first 333 M requests a month, the cheaper tiers apply.
    requests = 10_000 * S
    rest = 333e6 * 3.50e-6 + 667e6 * 2.80e-6 + 19e9 * 2.38e-6 + (requests - 20e9) * 1.51e-6
    assert api.monthly_usd == pytest.approx(rest)


def test_batches_divide_the_per_request_hops_but_not_the_writes():
    single, batched = make_plan(PlanRequest(rps=10_000)), make_plan(PlanRequest(rps=10_000, batch=50))
    assert quota(hop(batched, "API Gateway"), "L-8A5B8E43").needed == 200
    # One call for 50 readings; their data in and out still scales with the readings.
    assert hop(batched, "SageMaker").monthly_usd < hop(single, "SageMaker").monthly_usd / 30
    # The writes are per reading; the cache setting's read is per request.
    reads_saved = (10_000 - 200) * 0.5 * S * 0.125e-6
    assert hop(batched, "DynamoDB").monthly_usd == pytest.approx(hop(single, "DynamoDB").monthly_usd - reads_saved)


def test_every_request_reads_the_cache_setting_and_a_model_with_the_cache_reads_its_entry_too():
    asl = json.loads((ROOT / "statemachine/inference.asl.json").read_text())
    assert facts().reads_per_request == 1
    on = [p for p in paths(asl["States"], asl["StartAt"]) if "StorePredictions" in p and "ReadCacheEntry" in p]
    assert on and all({"ReadCacheSetting", "ReadCacheEntry"} <= set(p) for p in on)


def test_kinesis_and_firehose_bill_the_change_record_rounded_up_to_1_kb_and_5_kb():
    plan = make_plan(PlanRequest(rps=10_000))
    record = plan.sizes.record_bytes
    assert 1024 < record <= 5120
    gb = 10_000 * S / 1024**3
    kinesis = 730 * 0.04 + gb * (2048 * 0.08 + record * 0.04) + 10_000 * S * plan.sizes.write_units * 0.10e-6
    assert hop(plan, "Kinesis").monthly_usd == pytest.approx(kinesis)
    assert f"{10_000 * record / 1024**2:,.2f} MB/s" in hop(plan, "Kinesis").throughput
    firehose = hop(plan, "Firehose")
    ingest = gb * 5120 * (0.029 + 0.018)
    assert firehose.monthly_usd > ingest  # and the transform's Lambda calls
    assert firehose.monthly_usd - ingest < ingest / 10


def test_idle_the_stack_costs_its_stream_hours_alarms_and_dashboard():
    plan = make_plan(PlanRequest(rps=0))
    template = facts()
    assert plan.idle_usd == pytest.approx(730 * 0.04 + template.alarms * 0.10 + template.dashboards * 3.00)
    assert plan.monthly_usd == plan.idle_usd
    assert plan.usd_per_million is None


def test_provisioned_concurrency_and_instances_cost_the_same_idle_as_busy():
    provisioned = hop(make_plan(PlanRequest(rps=100, tier="provisioned")), "SageMaker provisioned")
    warm = math.ceil(100 * (63.5 + 2.9) / 1000)
    assert provisioned.idle_usd == pytest.approx(warm * 2 * S * P.provisioned_gb_second.usd)
    instance = hop(make_plan(PlanRequest(rps=100, tier="instance")), "SageMaker 1 x ml.m5.large")
    assert instance.monthly_usd == instance.idle_usd == pytest.approx(0.115 * 730)


def test_the_break_even_is_where_serverless_months_meet_one_instances():
    plan = make_plan(PlanRequest(rps=100))
    per_call = 2 * math.ceil(63.5 + 2.9) / 1000 * 0.00002 + (plan.sizes.request_bytes + 200) / 1024**3 * 0.016
    calls = 0.115 * 730 / (per_call * S)
    assert plan.break_even.calls_per_s == pytest.approx(calls)
    assert plan.break_even.readings_per_s == pytest.approx(calls)
    # In batches of 50, a call carries 50 readings (and 50 readings' data).
    batched = make_plan(PlanRequest(rps=100, batch=50)).break_even
    assert batched.readings_per_s == pytest.approx(batched.calls_per_s * 50)  # type: ignore[operator]


def test_the_lambda_tier_has_no_workflow_and_its_own_concurrency_quota():
    plan = make_plan(PlanRequest(rps=10_000, tier="lambda"))
    assert not [x for x in plan.hops if x.name.startswith("Step Functions")]
    model = hop(plan, "Lambda model")
    assert model.quota == quota(model, "L-B99A9384") and not model.quota.binds  # 129 of 1,000
    assert model.concurrency == pytest.approx(10_000 * (2.9 + 10) / 1000)


# --- the counts, from the template and the ASL -------------------------------------------------


def test_the_counts_are_the_templates():
    template = facts()
    assert template.batch_limit == 100
    assert "a batch of 1 to 100 readings" in ASL["States"]["Validate"]["Comment"]
    assert (template.writes_per_reading, template.writes_per_reading_with_event_id) == (1, 2)
    assert template.model_calls_per_request == 1
    assert template.map_concurrency == ASL["States"]["StorePredictions"]["MaxConcurrency"]
    resources = load_template()["Resources"]
    assert template.alarms == sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in resources.values())
    assert template.express_logs_each_execution is False  # Level ERROR: no log line per reading


def test_the_readme_says_what_the_asl_counts():
    readme = (ROOT / "README.md").read_text()
    assert "one DynamoDB write (two with your own `event_id`)" in readme
    assert (facts().writes_per_reading, facts().writes_per_reading_with_event_id) == (1, 2)


def test_a_write_added_to_the_asl_is_counted_without_a_change_to_the_plan():
    asl = copy.deepcopy(ASL)
    states = asl["States"]["StorePredictions"]["ItemProcessor"]["States"]
    states["AuditReading"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:putItem",
        "Parameters": {"TableName": "${AuditTable}", "Item": {}},
        "Next": "PutPrediction",
    }
    states["HasEventId"]["Default"] = "AuditReading"
    # the claim's path twice: on to PutPrediction, or PutCachedPrediction for a cache hit
    assert sorted(len(w) for w in write_paths(asl)) == [2, 2, 2]


def test_the_batch_limit_follows_the_validate_state():
    asl = json.loads(json.dumps(ASL).replace("$.readings[100]", "$.readings[25]"))
    assert batch_limit(asl) == 25


def test_an_attribute_the_plan_cannot_size_stops_the_plan():
    with pytest.raises(KeyError):
        prediction_item([*facts().prediction_attributes, "explanation"], 30)


def test_the_change_record_has_the_shape_of_kinesis_data_streams_for_dynamodb():
    fixture = json.loads(base64.b64decode(load_event("firehose_insert.json")["records"][0]["data"]))
    item = prediction_item(facts().prediction_attributes, 3)
    record = json.loads(change_record(item, "t"))
    assert set(record) == set(fixture)
    assert set(record["dynamodb"]) == set(fixture["dynamodb"])
    assert set(record["dynamodb"]["NewImage"]) == set(fixture["dynamodb"]["NewImage"])


def test_an_items_size_counts_names_strings_and_numbers_as_dynamodb_does():
    # "ab" (2) + "xyz" (3); "n" (1) + 12345 (5 significant digits: 3 bytes, plus 1)
    assert item_bytes({"ab": {"S": "xyz"}, "n": {"N": "12345"}}) == 2 + 3 + 1 + 3 + 1
    assert item_bytes({"n": {"N": "100"}}) == 1 + 1 + 1  # trailing zeroes trimmed: one digit


def test_a_reading_of_30_features_is_at_the_1_kb_line_of_a_write_unit():
    assert make_plan(PlanRequest(rps=1, features=30)).sizes.write_units == 1
    assert make_plan(PlanRequest(rps=1, features=31)).sizes.write_units == 2


# --- the refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (PlanRequest(rps=-1), "--rps must be a rate of 0 or more"),
        (PlanRequest(rps=float("nan")), "--rps must be a rate of 0 or more"),
        (PlanRequest(rps=1, batch=101), "--batch must be 1-100 readings"),
        (PlanRequest(rps=1, batch=0), "--batch must be 1-100 readings"),
        (PlanRequest(rps=1, tier="gpu"), "--tier must be one of serverless, provisioned, instance, lambda"),
        (PlanRequest(rps=1, memory_mb=1500), "--memory for a serverless endpoint is one of 1024, 2048"),
        (PlanRequest(rps=1, tier="lambda", memory_mb=64), "--memory for a Lambda function is 128-10240 MB"),
        (PlanRequest(rps=1, instance_type="ml.p5.48xlarge"), "--instance-type must be one of"),
    ],
)
def test_a_request_the_plan_cannot_price_is_refused_with_the_reason(request_, message):
    with pytest.raises(PlanError, match=re.escape(message)):
        make_plan(request_)


def test_a_region_without_a_sourced_price_table_is_refused():
    with pytest.raises(UnpricedRegion, match="no price table for eu-west-1: only us-east-1"):
        prices_for("eu-west-1")


# --- the command ---------------------------------------------------------------------------


def test_nrt_plan_prints_the_table_for_100_readings_a_second(capsys):
    assert cli.main(["plan", "--rps", "100"]) == 0
    out = capsys.readouterr().out
    assert out == render(make_plan(PlanRequest(rps=100))) + "\n"
    assert re.search(r"^API Gateway REST API .* \$919\.80 +\$0\.00$", out, flags=re.M)
    assert "quotas that bind (the binds: lines above; raise them before the spike): none\n" in out


def test_nrt_plan_names_the_quotas_to_raise_for_10000_readings_a_second(capsys):
    assert cli.main(["plan", "--rps", "10000", "--batch", "50"]) == 0
    out = capsys.readouterr().out
    binding = out.split("quotas that bind (the binds: lines above; raise them before the spike):\n", 1)[1]
    # 13 calls in flight: past the account's 10, inside the endpoint's 20.
    assert binding.startswith("  SageMaker serverless 2048 MB: 1\n  DynamoDB on-demand: 1\n")
    assert "binds: total serverless concurrency per account, default 10 invocations; raise: L-96300102" in out
    assert "break-even: above" in out


def test_nrt_plan_json_is_the_same_plan_as_data(capsys):
    assert cli.main(["plan", "--rps", "10000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["monthly_usd"] == pytest.approx(make_plan(PlanRequest(rps=10_000)).monthly_usd)
    assert {x["name"] for x in data["hops"] if x["binds"]} >= {"SageMaker serverless 2048 MB", "DynamoDB on-demand"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rps", "-5"], "--rps must be a rate of 0 or more readings per second"),
        (["--rps", "1", "--batch", "500"], "--batch must be 1-100 readings"),
        (["--rps", "1", "--region", "eu-west-1"], "no price table for eu-west-1"),
    ],
)
def test_nrt_plan_refuses_bad_input_with_exit_2_and_the_reason(capsys, argv, message):
    assert cli.main(["plan", *argv]) == 2
    assert message in capsys.readouterr().err


def test_nrt_plan_refuses_an_unknown_tier(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["plan", "--rps", "1", "--tier", "gpu"])
    assert exit_.value.code == 2
    assert "invalid choice: 'gpu'" in capsys.readouterr().err


def test_the_plan_as_json_names_every_price_and_latency_source():
    data = to_json(make_plan(PlanRequest(rps=1)))
    assert all(lat["source"] for lat in data["latencies"].values())
    assert all(price.source.startswith("https://") for price in vars(P).values() if isinstance(price, Price))


# --- the README's figures are the command's ------------------------------------------------------

README_SECTION = (ROOT / "README.md").read_text().split("## Latency, scale and cost", 1)[1].split("\n## ", 1)[0]


def share(plan, *prefixes: str) -> int:
    return round(sum(hop(plan, p).monthly_usd for p in prefixes) / plan.monthly_usd * 100)


@pytest.mark.parametrize("argv", [["--rps", "100"], ["--rps", "10000"]])
def test_the_readmes_plan_output_is_the_commands(capsys, argv):
    blocks = dict(re.findall(r"```text\n\$ nrt plan (.*?)\n(.*?)```", README_SECTION, flags=re.S))
    assert cli.main(["plan", *argv]) == 0
    assert blocks[" ".join(argv)] == capsys.readouterr().out


def test_the_readmes_table_and_figures_are_the_plans():
    rows = {
        "serverless 2 GB, single readings": make_plan(PlanRequest(rps=10_000)),
        "serverless 2 GB, batches of 50": make_plan(PlanRequest(rps=10_000, batch=50)),
        "72 x ml.m5.large, single readings": make_plan(PlanRequest(rps=10_000, tier="instance")),
        "model in Lambda (no workflow), single readings": make_plan(PlanRequest(rps=10_000, tier="lambda")),
    }
    for label, plan in rows.items():
        binding = ", ".join(
            f"{x.name.split(' (')[0]}: {sum(q.binds for q in x.quotas)}" for x in plan.hops if x.quota and x.quota.binds
        )
        assert f"| {label} | ${plan.monthly_usd:,.0f} | ${plan.usd_per_million:,.2f} | {binding} |" in README_SECTION
    single, batched = rows["serverless 2 GB, single readings"], rows["serverless 2 GB, batches of 50"]
    assert hop(rows["72 x ml.m5.large, single readings"], "SageMaker 72 x ml.m5.large")
    assert f"the stack costs ${single.idle_usd:,.0f} a month" in README_SECTION
    streaming = share(batched, "DynamoDB", "Kinesis", "Firehose")
    assert f"the cost; in batches of 50 DynamoDB, Kinesis and Firehose are {streaming}%" in README_SECTION
    assert f"API Gateway, Express and SageMaker are {share(single, 'API', 'Step', 'SageMaker')}%" in README_SECTION
    assert f"A 30-feature reading is a\n{single.sizes.item_bytes:,}-byte item" in README_SECTION
    be = single.break_even
    instance = f"one {be.instance_type} (${be.instance_usd_month:,.0f} a month)"
    assert f"Above {be.readings_per_s:,.1f} single readings a second,\n{instance}" in README_SECTION
    assert f"costs ${hop(single, 'X-Ray').monthly_usd:,.0f} a month at 10,000 requests/s" in README_SECTION
    logs = hop(single, "CloudWatch")
    assert f"the access log ${logs.monthly_usd - logs.idle_usd:,.0f}." in README_SECTION
    assert f"cannot serve {hop(single, 'SageMaker').concurrency:,.0f} calls in flight" in README_SECTION


def test_the_quota_table_in_docs_aws_binds_where_the_plan_does():
    doc = (ROOT / "docs" / "aws.md").read_text().split("## Quotas and spikes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in doc.splitlines() if line.startswith("| ")]
    checked = 0
    for tier in ("serverless", "lambda"):
        for found in make_plan(PlanRequest(rps=1, tier=tier)).hops:
            for q in found.quotas:
                row = next((line for line in rows if q.code and f"`{q.code.split()[-1]}" in line), None)
                if row is not None:
                    assert f"| {q.default / q.needed:,.0f} " in row, (q, row)
                    checked += 1
    assert checked >= 8
    assert "`L-8A5B8E43`" in doc and "`L-96300102`" in doc and "`L-6C9C5312`" in doc and "`L-B99A9384`" in doc


def test_a_price_not_read_where_it_was_checked_is_starred_wherever_it_is_printed():
    prices = [p for p in vars(P).values() if isinstance(p, Price)] + list(P.instance_hour.values())
    assert all(p.label.endswith(" *") != bool(p.seen_in) for p in prices)
    assert {p.checked for p in prices} == {"2026-12-05"}


def test_docs_aws_says_what_the_plan_bills_express_for():
    doc = (ROOT / "docs" / "aws.md").read_text()
    assert "never per state\ntransition" in doc
    big = make_plan(PlanRequest(rps=1, batch=facts().batch_limit))
    assert "64 MB x" in hop(big, "Step Functions").throughput  # a batch of 100 still fits one chunk
    assert f"a 30-feature reading's item is {make_plan(PlanRequest(rps=1)).sizes.item_bytes:,} bytes" in doc
