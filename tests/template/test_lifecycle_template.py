"""template.yaml, model lifecycle: artifacts bucket, SageMaker role, retraining workflow."""

from __future__ import annotations

import json
import re
from typing import Any

from nrt.template import ROOT, Tag, asl_placeholders, load_template, resources


def props(logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = resources()[logical_id]["Properties"]
    return found


def statements(logical_id: str) -> list[dict[str, Any]]:
    found = props(logical_id)
    if "Policies" in found and found["Policies"] and "PolicyDocument" in found["Policies"][0]:
        return [s for p in found["Policies"] for s in p["PolicyDocument"]["Statement"]]
    return [s for p in found.get("Policies", []) for s in p.get("Statement", [])]


def resource_texts(statement: dict[str, Any]) -> list[str]:
    resources_ = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [r.value if isinstance(r, Tag) and r.name == "Sub" else str(r) for r in resources_]


def test_retrain_substitution_keys_are_exactly_its_asl_placeholders():
    machine = props("RetrainStateMachine")

    assert asl_placeholders(ROOT / machine["DefinitionUri"]) == set(machine["DefinitionSubstitutions"])
    assert machine["Type"] == "STANDARD"


def test_the_retrain_asl_names_no_arn_bucket_or_endpoint():
    text = (ROOT / props("RetrainStateMachine")["DefinitionUri"]).read_text()

    assert "arn:aws:sagemaker" not in text and "arn:aws:sns" not in text
    assert not re.search(r'"nrt-(?!inference:)', text)  # endpoint names come from the prefix
    assert "s3://nrt" not in text and "dkr.ecr" not in text
    json.loads(text)


def test_the_retrain_workflow_trains_with_sync_then_gates_then_releases_in_order():
    states = json.loads((ROOT / props("RetrainStateMachine")["DefinitionUri"]).read_text())["States"]

    assert states["Train"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    # The gate's own states are checked in tests/template/test_gate_template.py.
    assert [c["Next"] for c in states["QualityGate"]["Choices"]][:2] == ["Judged", "JudgedWorse"]
    assert states["HasRecipe"]["Default"] == "NotifyNoRecipe"
    channel = states["Train"]["Parameters"]["InputDataConfig"][0]
    assert channel["DataSource"]["S3DataSource"]["S3Uri.$"] == "$.prepared.uri"  # the Prepare job's output
    served_how = [c["Next"] for c in states["ServedHow"]["Choices"]]
    assert served_how == ["CreateEndpointConfig", "CreateInstanceEndpointConfig"]
    chain, name = [], "CreateEndpointConfig"
    while "Next" in states[name] and name != "UpdateDone":
        chain.append(name)
        name = states[name]["Next"]
    # The prediction cache pauses before the switch (PauseCache) and names the new version after it.
    assert chain == ["CreateEndpointConfig", "PauseCache", "UpdateEndpoint", "DescribeUpdatedEndpoint"]
    # UpdateEndpoint has no .sync: the new version must serve before it is recorded, cached or announced.
    done = states["UpdateDone"]["Choices"][0]
    assert done["Next"] == "ResumeCache"
    assert states["ResumeCache"]["Next"] == "RecordSignature"  # then what serving reads is the new model's
    assert states["RecordSignature"]["Next"] == "RecordMetric"
    assert {"Variable": "$.update.config", "StringEqualsPath": "$.version.name"} in done["And"]
    assert states["RecordMetric"]["Next"] == "NotifyPromoted"
    assert states["DescribeServingConfig"]["Catch"][0]["Next"] == "NotifyCannotRetrain"


def test_the_retrain_workflow_prepares_the_recipe_data_in_a_processing_job_of_the_training_image_before_training():
    states = json.loads((ROOT / props("RetrainStateMachine")["DefinitionUri"]).read_text())["States"]
    prepare, train = states["Prepare"], states["Train"]

    assert states["NameThisVersion"]["Next"] == "ReadOptions" and states["ReadOptions"]["Next"] == "DataSource"
    # The recipe's CSV files by default, production data from the lake when the source says so;
    # either way the same Prepare job, its inputs and arguments set by RecipeData or LakeData.
    assert states["DataSource"]["Default"] == "RecipeData" and states["RecipeData"]["Next"] == "Prepare"
    assert states["DataSource"]["Choices"] == [
        {"Variable": "$.options.merged.source", "StringEquals": "lake", "Next": "ReadTrainingSetQuery"}
    ]
    assert states["QueryLake"]["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    assert states["QueryLake"]["Next"] == "LakeData" and states["LakeData"]["Next"] == "Prepare"
    assert prepare["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    job = prepare["Parameters"]
    assert (job["ProcessingInputs.$"], job["AppSpecification"]["ContainerArguments.$"]) == (
        "$.data.inputs",
        "$.data.arguments",
    )
    assert job["AppSpecification"]["ImageUri"] == train["Parameters"]["AlgorithmSpecification"]["TrainingImage"]
    code, recipe, _serving = states["RecipeData"]["Parameters"]["inputs"]
    assert states["LakeData"]["Parameters"]["inputs"][:3] == [code, recipe, _serving]
    assert states["LakeData"]["Parameters"]["inputs"][3]["S3Input"]["S3Uri.$"] == "$.lake.uri"
    assert code["S3Input"]["S3Uri"] == train["Parameters"]["HyperParameters"]["sagemaker_submit_directory"]
    assert recipe["S3Input"]["S3Uri.$"] == "$.serving_tags.recipe[0]"
    assert "python3 -m training.prepare" in job["AppSpecification"]["ContainerEntrypoint"][2]
    [output] = job["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri.$"] == "States.Format('s3://${ModelArtifactsBucket}/prepared/{}/', $.version.name)"
    assert job["RoleArn"] == "${PreparationRoleArn}"
    assert prepare["Catch"][0]["Next"] == "JobOrRequestFailed"
    assert states["DataRefused"] == {"Type": "Fail", "Error": "DataRefused", "CausePath": "$.refusal.job.ExitMessage"}


def _route(choice: dict[str, Any], update: dict[str, str], version: str) -> str:
    """Where a Choice state sends {"update": update, "version": {"name": version}} (the rules
    UpdateDone uses: StringEquals, StringEqualsPath on $.version.name, And, Or)."""

    def holds(rule: dict[str, Any]) -> bool:
        if "And" in rule:
            return all(holds(r) for r in rule["And"])
        if "Or" in rule:
            return any(holds(r) for r in rule["Or"])
        value = update[rule["Variable"].removeprefix("$.update.")]
        if "StringEqualsPath" in rule:
            assert rule["StringEqualsPath"] == "$.version.name"
            return value == version
        return bool(value == rule["StringEquals"])

    return next((rule["Next"] for rule in choice["Choices"] if holds(rule)), choice["Default"])


# SageMaker API reference, DescribeEndpoint's EndpointStatus: Creating, Updating,
# SystemUpdating and RollingBack are transitional; InService, OutOfService, Failed,
# UpdateRollbackFailed ("both the rolling deployment and auto-rollback failed") and Deleting
# are not. botocore's model lists the same values.
TRANSITIONAL = {"Creating", "Updating", "SystemUpdating", "RollingBack"}


def test_the_retrain_poll_waits_only_on_a_transitional_status_and_ends_on_every_other_with_a_notification():
    import botocore.session

    statuses = set(botocore.session.get_session().get_service_model("sagemaker").shape_for("EndpointStatus").enum)
    assert statuses > TRANSITIONAL and statuses > {"UpdateRollbackFailed", "Deleting"}
    states = json.loads((ROOT / props("RetrainStateMachine")["DefinitionUri"]).read_text())["States"]
    choice = states["UpdateDone"]

    def ends_notified(name: str) -> str:
        # A notification, then a Fail state: the execution ends and someone is told.
        assert states[name]["Resource"] == "arn:aws:states:::sns:publish", name
        end = states[states[name]["Next"]]
        assert end["Type"] == "Fail", name
        return str(end["Error"])

    ends: dict[str, str] = {}
    for status in sorted(statuses | {"SomeStatusSageMakerAddsLater"}):
        to = _route(choice, {"status": status, "config": "old"}, "new")
        if status in TRANSITIONAL:
            assert to == "WaitForUpdate", status
        else:
            ends[status] = ends_notified(to)
    assert _route(choice, {"status": "InService", "config": "new"}, "new") == "ResumeCache"
    assert states["WaitForUpdate"]["Next"] == "DescribeUpdatedEndpoint"
    assert ends["UpdateRollbackFailed"] == "UpdateRollbackFailed"
    assert ends["InService"] == ends["Failed"] == ends["OutOfService"] == "UpdateFailed"
    assert ends["Deleting"] == ends["SomeStatusSageMakerAddsLater"] == "UpdateStopped"

    # DescribeEndpoint itself failing (the endpoint deleted, or errors past the retries) ends
    # the execution too, told; a missing endpoint is not retried.
    describe = states["DescribeUpdatedEndpoint"]
    [catch] = describe["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.failure"
    assert ends_notified(catch["Next"]) == "UpdateUnknown"
    assert describe["Retry"][0] == {"ErrorEquals": ["SageMaker.ValidationException"], "MaxAttempts": 0}


def test_the_retrain_schedule_exists_and_is_off_by_default():
    template = load_template()
    schedule = props("RetrainStateMachine")["Events"]["Schedule"]

    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["State"] == Tag("If", ["RetrainScheduled", "ENABLED", "DISABLED"])
    assert template["Parameters"]["RetrainScheduleEnabled"]["Default"] == "false"
    assert template["Conditions"]["RetrainScheduled"] == Tag("Equals", [Tag("Ref", "RetrainScheduleEnabled"), "true"])


def test_the_retrain_workflow_may_touch_prefixed_sagemaker_resources_only():
    for statement in statements("RetrainStateMachine"):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        sagemaker = [a for a in actions if a.startswith("sagemaker:")]
        if sagemaker:
            for resource in resource_texts(statement):
                assert re.search(
                    r":(endpoint|endpoint-config|model|training-job|processing-job|hyper-parameter-tuning-job)/\$\{EndpointPrefix\}\*$",
                    resource,
                ), (
                    statement["Sid"],
                    resource,
                )


def test_the_retrain_workflow_may_pass_only_the_sagemaker_roles_and_only_to_sagemaker():
    [statement] = [s for s in statements("RetrainStateMachine") if s["Action"] == "iam:PassRole"]

    assert statement["Resource"] == [Tag("GetAtt", "SageMakerExecutionRole.Arn"), Tag("GetAtt", "PreparationRole.Arn")]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_the_sagemaker_role_reads_only_this_stacks_artifacts_and_writes_only_training_output():
    found = statements("SageMakerExecutionRole")
    by_sid = {s["Sid"]: s for s in found}

    assert [r.split("/", 1)[1] for r in resource_texts(by_sid["ReadModelsAndTrainingCode"])] == [
        "models/*",
        "code/*",
        "training/*",
        "data/*",
        "prepared/*",
    ]
    assert by_sid["ListRecipeData"]["Condition"] == {"StringLike": {"s3:prefix": ["data/*", "prepared/*"]}}
    assert resource_texts(by_sid["WriteTrainingOutput"]) == ["${ModelArtifactsBucket.Arn}/training/*"]
    stars = [s["Sid"] for s in found if s["Resource"] == "*"]
    assert stars == ["EcrLogin"]


def test_the_preparation_role_reads_the_code_and_recipes_and_writes_only_prepared_data():
    by_sid = {s["Sid"]: s for s in statements("PreparationRole")}

    assert [r.split("/", 1)[1] for r in resource_texts(by_sid["ReadTrainingCodeAndRecipes"])] == [
        "code/training.tar.gz",
        "data/*",
    ]
    assert resource_texts(by_sid["WritePreparedData"]) == ["${ModelArtifactsBucket.Arn}/prepared/*"]
    writes = [s["Sid"] for s in by_sid.values() if "s3:PutObject" in str(s["Action"])]
    assert writes == ["WritePreparedData"]
    stars = [s["Sid"] for s in by_sid.values() if s["Resource"] == "*"]
    assert stars == ["EcrLogin"]


def test_the_preparation_role_reads_only_the_serving_model_archives_whose_signature_is_the_contract():
    by_sid = {s["Sid"]: s for s in statements("PreparationRole")}
    states = json.loads((ROOT / props("RetrainStateMachine")["DefinitionUri"]).read_text())["States"]

    [serving] = [i for i in states["RecipeData"]["Parameters"]["inputs"] if i["InputName"] == "serving"]
    assert serving["S3Input"]["S3Uri.$"] == "$.serving_model.artifact[0]"
    assert [r.split("/", 1)[1] for r in resource_texts(by_sid["ReadServingArtifacts"])] == [
        "models/*/model.tar.gz",
        "training/*/output/model.tar.gz",
    ]
    assert by_sid["ListServingArtifacts"]["Condition"] == {
        "StringLike": {"s3:prefix": ["models/*/model.tar.gz", "training/*/output/model.tar.gz"]}
    }


def test_retraining_from_the_lake_may_query_only_the_stack_s_work_group_over_the_lake_s_tables():
    by_sid = {s["Sid"]: s for s in statements("RetrainStateMachine")}
    prepare = {s["Sid"]: s for s in statements("PreparationRole")}

    assert resource_texts(by_sid["QueryTheLakeForTrainingSets"]) == [
        "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/${AthenaWorkGroup}"
    ]
    assert [r.rsplit(":", 1)[1] for r in resource_texts(by_sid["ReadTheLakeTables"])] == [
        "catalog",
        "database/${LakeDatabase}",
        "table/${LakeDatabase}/*",
    ]
    assert all(a.startswith("glue:Get") for a in by_sid["ReadTheLakeTables"]["Action"])
    assert resource_texts(by_sid["ReadTheLake"])[1:] == [
        "${LakeBucket.Arn}/predictions/*",
        "${LakeBucket.Arn}/outcomes/*",
    ]
    assert resource_texts(by_sid["WriteQueryResults"])[1:] == ["${AthenaResultsBucket.Arn}/results/*"]
    assert resource_texts(prepare["ReadTrainingSetResults"]) == ["${AthenaResultsBucket.Arn}/results/*.csv"]
    assert prepare["ListTrainingSetResults"]["Condition"] == {"StringLike": {"s3:prefix": ["results/*.csv"]}}


def test_the_retrain_workflow_may_manage_only_the_sync_rules_of_its_three_kinds_of_job():
    rules = [s for s in statements("RetrainStateMachine") if "events:PutRule" in s["Action"]]

    assert sorted(r.rsplit("/", 1)[1] for s in rules for r in resource_texts(s)) == [
        "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        "StepFunctionsGetEventsForSageMakerTuningJobsRule",
    ]


def test_the_artifacts_bucket_is_encrypted_private_versioned_and_tls_only():
    bucket = props("ModelArtifactsBucket")
    [statement] = props("ModelArtifactsBucketPolicy")["PolicyDocument"]["Statement"]

    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_outputs_give_deploy_model_what_it_needs():
    outputs = load_template()["Outputs"]

    for name in ("ModelArtifactsBucketName", "SageMakerExecutionRoleArn", "EndpointPrefix", "RetrainStateMachineArn"):
        assert name in outputs


def test_the_notifications_topic_is_encrypted():
    assert props("RetrainNotifications")["KmsMasterKeyId"] == "alias/aws/sns"


def test_get_models_may_read_the_tags_of_prefixed_endpoints_only():
    function = props("ListModelsFunction")
    [tags] = [s for s in function["Policies"][0]["Statement"] if s.get("Sid") == "ReadModelTags"]

    assert tags["Action"] == "sagemaker:ListTags"
    assert tags["Resource"].name == "Sub"
    assert tags["Resource"].value.endswith(":endpoint/${EndpointPrefix}*")


def test_the_sklearn_image_accounts_are_the_sagemaker_sdks_for_every_region():
    from sagemaker.core import image_uris

    from nrt.ops.target import FRAMEWORK_VERSION
    from nrt.template import LocalContext, load_template, resolve

    registries = image_uris.config_for_framework("sklearn")["inference"]["versions"][FRAMEWORK_VERSION]["registries"]
    mapping = load_template()["Mappings"]["SklearnImageAccounts"]
    assert {region: row["Account"] for region, row in mapping.items()} == registries
    image = resources()["RetrainStateMachine"]["Properties"]["DefinitionSubstitutions"]["SklearnImageUri"]
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        uri = resolve(image, LocalContext(region=region))
        assert uri.startswith(f"{registries[region]}.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:")
    assert resolve(image, LocalContext(parameters={"SklearnImageUri": "mine"})) == "mine"
    # deploy-model serves with the image the retraining workflow trains with: the stack says it.
    assert load_template()["Outputs"]["SklearnImageUri"]["Value"] == image


def test_deploy_model_names_the_image_the_sagemaker_sdk_names_in_every_region_it_has_one():
    from sagemaker.core import image_uris

    from nrt.ops.target import FRAMEWORK_VERSION, image_uri

    regions = image_uris.config_for_framework("sklearn")["inference"]["versions"][FRAMEWORK_VERSION]["registries"]
    cases = [(region, "ml.m5.large") for region in regions] + [("eu-west-1", "ml.c5.xlarge"), ("us-east-1", None)]
    for region, instance_type in cases:
        expected = image_uris.retrieve(
            "sklearn", region=region, version=FRAMEWORK_VERSION, image_scope="inference",
            instance_type=instance_type or "ml.m5.large",
        )  # fmt: skip
        assert image_uri(region, instance_type) == expected, (region, instance_type)


# Two stacks in one account (samconfig.toml has dev and prod): nothing may carry a fixed name.
def test_the_schedule_and_the_lake_database_are_named_per_stack():
    from nrt.template import LocalContext, resolve

    schedule = resources()["RetrainStateMachine"]["Properties"]["Events"]["Schedule"]["Properties"]
    assert schedule["OmitName"] is True
    database = resources()["LakeDatabase"]["Properties"]["DatabaseInput"]["Name"]
    assert resolve(database, LocalContext(stack_name="nrt-dev")) == "nrt_dev_lake"
    assert resolve(database, LocalContext(stack_name="nrt-prod")) == "nrt_prod_lake"
    assert resolve(database, LocalContext(parameters={"LakeDatabaseName": "mine"})) == "mine"


# "CloudWatch Logs role ARN must be set in account settings to enable logging": the stage's
# access logging needs the account's API Gateway role, which a fresh account has not got.
def test_the_api_waits_for_the_accounts_logging_role_when_the_stack_sets_it():
    account = resources()["ApiGatewayAccount"]
    role = resources()["ApiGatewayCloudWatchRole"]
    assert account["Condition"] == role["Condition"] == "CreateApiGatewayAccountRole"
    assert account["DeletionPolicy"] == role["DeletionPolicy"] == "Retain"  # other stacks' logs use it
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in role["Properties"]["ManagedPolicyArns"][0].value
    description = resources()["Api"]["Properties"]["Description"]
    assert description.value[0] == "CreateApiGatewayAccountRole"
    assert "${ApiGatewayAccount}" in description.value[1].value
