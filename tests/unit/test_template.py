"""template.yaml: handlers, runtime, MQ triggers, packaging inputs. Offline; no SAM CLI needed."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

HANDLERS = {
    "ApiFunction": "functions.api.app.handler",
    "GenerateWrapperFunction": "functions.generate_wrapper.handler.handler",
    "ValidateWrapperFunction": "functions.validate_wrapper.handler.handler",
}
MQ_QUEUES = {
    "GenerateWrapperFunction": "wrapper_creation_queue",
    "ValidateWrapperFunction": "wrapper_validation_queue",
}
HEAVY = ("pandas", "numpy", "google-genai", "python-calamine", "openpyxl")


def _package_check() -> ModuleType:
    """infra/scripts/package_check.py, loaded by path (it is a script, not a package)."""
    name = "rs_package_check"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "infra" / "scripts" / "package_check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = _package_check().load_template(ROOT / "template.yaml")
    return loaded


def _function(template: dict[str, Any], name: str) -> dict[str, Any]:
    resource = template["Resources"][name]
    assert resource["Type"] == "AWS::Serverless::Function"
    props: dict[str, Any] = resource["Properties"]
    return props


def _requirement_names(path: Path) -> set[str]:
    names: list[str] = _package_check().requirement_names(path)
    return {_package_check().canonical(n) for n in names}


def test_loader_understands_short_form_tags(tmp_path: Path) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text("A: !Ref X\nB: !GetAtt R.Arn\nC: !Sub 'x-${Y}'\nD: !If [Cond, 1, !Ref AWS::NoValue]\n")
    loaded = _package_check().load_template(path)
    assert loaded == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["R", "Arn"]},
        "C": {"Fn::Sub": "x-${Y}"},
        "D": {"Fn::If": ["Cond", 1, {"Ref": "AWS::NoValue"}]},
    }


def test_sam_transform_and_globals(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["Architectures"] == ["x86_64"]
    assert function_globals["CodeUri"] == "."
    variables = function_globals["Environment"]["Variables"]
    for name in (
        "RS_ENVIRONMENT",
        "RS_LOG_LEVEL",
        "RS_MONGODB_DATABASE",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "RS_MONGODB_SECRET_ARN",
        "RS_AMQP_SECRET_ARN",
        "RS_GEMINI_SECRET_ARN",
        "RS_UPLOAD_BUCKET",
        "RS_AMQP_URL",
    ):
        assert name in variables, name
    assert variables["RS_UPLOAD_BUCKET"] == {"Ref": "UploadBucket"}
    assert variables["RS_AMQP_SECRET_ARN"] == {"Ref": "BrokerCredentialsSecretArn"}


@pytest.mark.parametrize(("function", "handler"), HANDLERS.items())
def test_handlers_are_the_agreed_ones(template: dict[str, Any], function: str, handler: str) -> None:
    props = _function(template, function)
    assert props["Handler"] == handler
    assert props.get("PackageType", "Zip") == "Zip"
    assert "Runtime" not in props or props["Runtime"] == "python3.12"


@pytest.mark.parametrize("handler", HANDLERS.values())
def test_handler_modules_exist(handler: str) -> None:
    module, attribute = handler.rsplit(".", 1)
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    assert path.is_file(), f"{handler}: {path.relative_to(ROOT)} is missing"
    assert re.search(rf"^(def|async def) {attribute}\b|^{attribute}\s*[:=]", path.read_text(), re.M), (
        f"{handler}: no top-level {attribute} in {path.relative_to(ROOT)}"
    )
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).resolve() == path.resolve()


@pytest.mark.parametrize(("function", "queue"), MQ_QUEUES.items())
def test_mq_events(template: dict[str, Any], function: str, queue: str) -> None:
    props = _function(template, function)
    events = [e for e in props["Events"].values() if e["Type"] == "MQ"]
    assert len(events) == 1
    event = events[0]["Properties"]
    assert event["Broker"] == {"Ref": "BrokerArn"}
    assert event["Queues"] == [queue]
    assert event["SourceAccessConfigurations"] == [
        {"Type": "BASIC_AUTH", "URI": {"Ref": "BrokerCredentialsSecretArn"}}
    ]
    assert 1 <= event["BatchSize"] <= 10
    assert props["Timeout"] >= 300
    statements = props["Policies"][0]["Statement"]
    assert any(
        s["Action"] == "mq:DescribeBroker" and s["Resource"] == {"Ref": "BrokerArn"} for s in statements
    )


def test_api_function_is_an_http_api(template: dict[str, Any]) -> None:
    props = _function(template, "ApiFunction")
    events = list(props["Events"].values())
    assert events and all(e["Type"] == "HttpApi" for e in events)
    assert {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events} >= {("/{proxy+}", "ANY")}
    assert template["Resources"]["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"


def test_deployed_cors_allows_and_exposes_every_header_the_api_uses(template: dict[str, Any]) -> None:
    """The HTTP API's CorsConfiguration replaces the app's CORS, so it must carry the app's lists."""
    from functions.api.cors import CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_EXPOSE_HEADERS

    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    allowed = {header.lower() for header in cors["AllowHeaders"]}
    exposed = {header.lower() for header in cors["ExposeHeaders"]}
    assert {"idempotency-key", "authorization", "x-api-key", "content-type"} <= allowed
    assert {"location", "idempotency-replayed"} <= exposed
    assert allowed == {header.lower() for header in CORS_ALLOW_HEADERS}
    assert exposed == {header.lower() for header in CORS_EXPOSE_HEADERS}
    assert set(cors["AllowMethods"]) == set(CORS_ALLOW_METHODS) >= {"PATCH", "DELETE", "OPTIONS"}


def test_upload_bucket_is_private_and_encrypted(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["UploadBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert any("AbortIncompleteMultipartUpload" in r for r in bucket["LifecycleConfiguration"]["Rules"])


def test_outputs(template: dict[str, Any]) -> None:
    assert {
        "ApiUrl",
        "UploadBucketName",
        "ApiFunctionArn",
        "GenerateWrapperFunctionArn",
        "ValidateWrapperFunctionArn",
    } <= set(template["Outputs"])


def test_api_requirements_are_light() -> None:
    names = _requirement_names(ROOT / "functions" / "api" / "requirements.txt")
    assert names, "functions/api/requirements.txt lists nothing"
    assert not names & {_package_check().canonical(h) for h in HEAVY}
    assert {"fastapi", "mangum", "pymongo", "pika", "pydantic"} <= names


@pytest.mark.parametrize("function", ["generate_wrapper", "validate_wrapper"])
def test_wrapper_requirements_have_the_data_stack(function: str) -> None:
    names = _requirement_names(ROOT / "functions" / function / "requirements.txt")
    assert {_package_check().canonical(h) for h in HEAVY} | {"defusedxml", "ruff", "pymongo", "pika"} <= names


def test_layers_are_built_by_the_makefile_package_check_runs(template: dict[str, Any]) -> None:
    functions, layers = _package_check().functions_and_layers(template)
    by_name = {f.logical_id: f for f in functions}
    assert by_name["ApiFunction"].layers == ["ApiDependenciesLayer"]
    assert by_name["GenerateWrapperFunction"].layers == ["WrapperDependenciesLayer"]
    assert by_name["ValidateWrapperFunction"].layers == ["WrapperDependenciesLayer"]
    for layer in layers.values():
        assert layer.build_method == "makefile"
        assert layer.makefile is not None
        makefile = layer.makefile.read_text()
        assert f"build-{layer.logical_id}:" in makefile
        # Wheels for the runtime the template declares.
        assert "--python-version 3.12" in makefile
        assert "manylinux2014_x86_64" in makefile


def test_functions_are_built_by_the_root_makefile_package_check_runs(template: dict[str, Any]) -> None:
    functions, _layers = _package_check().functions_and_layers(template)
    for function in functions:
        assert function.build_method == "makefile", function.logical_id
        assert function.makefile == ROOT / "Makefile"
        assert re.search(rf"^build-{function.logical_id}:", function.makefile.read_text(), re.M)


def _built(function: str, target: Path) -> Path:
    template = _package_check().load_template(ROOT / "template.yaml")
    functions, _layers = _package_check().functions_and_layers(template)
    (spec,) = [f for f in functions if f.logical_id == function]
    built: Path = _package_check().build_function_code(spec, target)
    return built


@pytest.mark.parametrize("function", HANDLERS)
def test_function_code_holds_its_handler_and_no_dev_code(function: str, tmp_path: Path) -> None:
    code = _built(function, tmp_path / "code")
    assert _package_check().dev_code(code) == []
    assert {p.name for p in code.iterdir()} == {"functions", "shared"}
    assert code.joinpath(*HANDLERS[function].split(".")[:-1]).with_suffix(".py").is_file()
    assert (code / "shared" / "__init__.py").is_file()


def test_the_api_code_holds_only_the_stages_the_api_may_import(tmp_path: Path) -> None:
    from tests.unit.test_architecture import API_UNITS

    code = _built("ApiFunction", tmp_path / "code")
    stages = {
        f"shared.{p.name}" for p in (code / "shared").iterdir() if p.is_dir() and p.name != "__pycache__"
    }
    assert stages == set(API_UNITS)
    assert {p.name for p in (code / "functions").iterdir()} - {"__pycache__"} == {"__init__.py", "api"}


def test_the_wrapper_function_code_leaves_out_the_command_line(tmp_path: Path) -> None:
    code = _built("GenerateWrapperFunction", tmp_path / "code")
    assert (code / "shared" / "flows").is_dir() and (code / "shared" / "wrapper_toolkit.py").is_file()
    assert not (code / "shared" / "cli").exists()
    assert not (code / "functions" / "api").exists()


def test_package_check_finds_dev_code_at_any_depth(tmp_path: Path) -> None:
    for path in (
        "devtools/bench.py",
        "shared/tests/test_x.py",
        "shared/conftest.py",
        "shared/__pycache__/a.pyc",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    (tmp_path / "shared" / "stray.pyc").write_bytes(b"")
    (tmp_path / "shared" / "point.py").write_text("")
    assert _package_check().dev_code(tmp_path) == [
        "devtools/",
        "shared/__pycache__/",
        "shared/tests/",
        "shared/conftest.py",
        "shared/stray.pyc",
    ]


def test_package_check_flags_a_function_that_ships_its_whole_code_uri(tmp_path: Path) -> None:
    """A function without a makefile gets CodeUri copied as it is: dev code there ends up in the package."""
    source = tmp_path / "repo"
    for path in ("functions/api/app.py", "devtools/bench.py", "tests/test_app.py"):
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text("")
    function = _package_check().FunctionSpec(
        logical_id="ApiFunction",
        handler="functions.api.app.handler",
        runtime="python3.12",
        code_uri=source,
        package_type="Zip",
        layers=[],
    )
    code = _package_check().build_function_code(function, tmp_path / "code")
    assert _package_check().dev_code(code) == ["devtools/", "tests/"]


def test_upload_bucket_cors_allows_the_presigned_post_the_api_hands_out(template: dict[str, Any]) -> None:
    """POST /uploads returns a presigned POST form, so browsers must be allowed to POST to the bucket."""
    bucket = template["Resources"]["UploadBucket"]["Properties"]
    methods = bucket["CorsConfiguration"]["CorsRules"][0]["AllowedMethods"]
    assert "POST" in methods


# ----------------------------------------------------------------------------- wrapper execution job (ECS)

JOB_MODULE = "jobs.run_wrappers"
JOB_PARAMETERS = (
    "JobImageUri",
    "JobSubnetIds",
    "JobSecurityGroupIds",
    "JobAssignPublicIp",
    "JobCpu",
    "JobMemory",
    "JobSchedule",
    "JobScheduleState",
)
EXAMPLE_IMAGE = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/resource-service/run-wrappers:0123abc"


def _resource(template: dict[str, Any], name: str, kind: str) -> dict[str, Any]:
    resource = template["Resources"][name]
    assert resource["Type"] == kind, name
    props: dict[str, Any] = resource["Properties"]
    return props


def _inline_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in _as_list(s["Action"])}


def _trusted_service(role: dict[str, Any]) -> str:
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    service: str = statement["Principal"]["Service"]
    return service


def _container(template: dict[str, Any]) -> dict[str, Any]:
    task = _resource(template, "JobTaskDefinition", "AWS::ECS::TaskDefinition")
    (container,) = task["ContainerDefinitions"]
    found: dict[str, Any] = container
    return found


def _evaluate(node: Any, parameters: dict[str, str]) -> Any:
    """A small evaluator for Ref, Fn::Split, Fn::Select and Fn::Sub: enough to follow string derivations."""
    pseudo = {"AWS::Partition": "aws", "AWS::Region": "eu-central-1", "AWS::AccountId": "123456789012"}
    if isinstance(node, list):
        return [_evaluate(item, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    ((key, value),) = node.items()
    if key == "Ref":
        return {**pseudo, **parameters}[value]
    if key == "Fn::Split":
        delimiter, source = value
        return str(_evaluate(source, parameters)).split(delimiter)
    if key == "Fn::Select":
        index, items = value
        return _evaluate(items, parameters)[int(index)]
    if key == "Fn::Sub":
        text, variables = (value, {}) if isinstance(value, str) else value
        names = {**pseudo, **parameters, **{k: _evaluate(v, parameters) for k, v in variables.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(names[m.group(1)]), text)
    raise AssertionError(f"cannot evaluate {key}")


def test_job_parameters(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["JobImageUri"]["Type"] == "String"
    assert "Default" not in parameters["JobImageUri"]
    assert re.fullmatch(parameters["JobImageUri"]["AllowedPattern"], EXAMPLE_IMAGE)
    digest = EXAMPLE_IMAGE.rsplit(":", 1)[0] + "@sha256:" + "0" * 64
    assert re.fullmatch(parameters["JobImageUri"]["AllowedPattern"], digest)
    # A tag or digest is required, and only ECR: the execution role may pull from that repository only.
    for wrong in (EXAMPLE_IMAGE.rsplit(":", 1)[0], "python:3.12-slim", "docker.io/library/python:3.12"):
        assert not re.fullmatch(parameters["JobImageUri"]["AllowedPattern"], wrong), wrong
    assert parameters["JobSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert parameters["JobSecurityGroupIds"]["Type"] == "List<AWS::EC2::SecurityGroup::Id>"
    assert parameters["JobAssignPublicIp"]["AllowedValues"] == ["ENABLED", "DISABLED"]
    assert parameters["JobAssignPublicIp"]["Default"] == "DISABLED"
    assert parameters["JobCpu"]["AllowedValues"] == ["256", "512", "1024", "2048"]
    assert parameters["JobCpu"]["Default"] == "1024"
    assert parameters["JobMemory"]["Default"] == "2048"
    assert parameters["JobSchedule"]["Default"] == "rate(1 minute)"
    assert re.fullmatch(parameters["JobSchedule"]["AllowedPattern"], "rate(1 minute)")
    assert parameters["JobScheduleState"]["AllowedValues"] == ["ENABLED", "DISABLED"]


def test_job_cpu_memory_rules_cover_every_cpu(template: dict[str, Any]) -> None:
    """Every JobCpu value has a rule; the default pair satisfies it."""
    parameters = template["Parameters"]
    covered = {}
    for rule in template["Rules"].values():
        ref, cpu = rule["RuleCondition"]["Fn::Equals"]
        assert ref == {"Ref": "JobCpu"}
        (assertion,) = rule["Assertions"]
        allowed, memory_ref = assertion["Assert"]["Fn::Contains"]
        assert memory_ref == {"Ref": "JobMemory"}
        assert set(allowed) <= set(parameters["JobMemory"]["AllowedValues"])
        covered[cpu] = allowed
    assert set(covered) == set(parameters["JobCpu"]["AllowedValues"])
    assert parameters["JobMemory"]["Default"] in covered[parameters["JobCpu"]["Default"]]


def test_job_schedule_runs_the_task_definition_on_the_cluster(template: dict[str, Any]) -> None:
    schedule = _resource(template, "RunWrappersSchedule", "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == {"Ref": "JobSchedule"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == {"Ref": "JobScheduleState"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["JobCluster", "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["JobSchedulerRole", "Arn"]}
    ecs = target["EcsParameters"]
    assert ecs["LaunchType"] == "FARGATE"
    assert ecs["TaskDefinitionArn"] == {"Ref": "JobTaskDefinition"}
    assert ecs["TaskCount"] == 1
    assert ecs["PlatformVersion"] == "LATEST"
    assert ecs["NetworkConfiguration"]["AwsvpcConfiguration"] == {
        "Subnets": {"Ref": "JobSubnetIds"},
        "SecurityGroups": {"Ref": "JobSecurityGroupIds"},
        "AssignPublicIp": {"Ref": "JobAssignPublicIp"},
    }
    # The next tick is the retry.
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert template["Resources"]["JobCluster"]["Type"] == "AWS::ECS::Cluster"


def test_job_task_definition_is_fargate_with_the_image_parameter(template: dict[str, Any]) -> None:
    task = _resource(template, "JobTaskDefinition", "AWS::ECS::TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert task["Cpu"] == {"Ref": "JobCpu"}
    assert task["Memory"] == {"Ref": "JobMemory"}
    assert task["RuntimePlatform"] == {"OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64"}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["JobExecutionRole", "Arn"]}
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["JobTaskRole", "Arn"]}
    container = _container(template)
    assert container["Image"] == {"Ref": "JobImageUri"}
    assert container["Essential"] is True
    assert 30 <= container["StopTimeout"] <= 120
    assert not str(container.get("User", "10001")).startswith("0")
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "JobLogGroup"}
    log_group = _resource(template, "JobLogGroup", "AWS::Logs::LogGroup")
    assert log_group["RetentionInDays"] == {
        "Fn::FindInMap": ["EnvironmentConfig", {"Ref": "Environment"}, "LogRetentionDays"]
    }
    if container.get("ReadonlyRootFilesystem"):
        volumes = {v["Name"] for v in task["Volumes"]}
        mounts = {m["ContainerPath"]: m["SourceVolume"] for m in container["MountPoints"]}
        assert mounts.get("/tmp") in volumes, "a read-only root needs a writable /tmp for the sandbox"


def test_job_container_runs_the_job_module(template: dict[str, Any]) -> None:
    """The image's ENTRYPOINT runs the job; the task definition must not replace it with something else."""
    container = _container(template)
    # A Command would become the job's arguments; an EntryPoint may only restate the image's.
    assert "Command" not in container
    assert container.get("EntryPoint", ["python", "-m", JOB_MODULE]) == ["python", "-m", JOB_MODULE]
    dockerfile = (ROOT / "jobs" / "run_wrappers" / "Dockerfile").read_text()
    assert f'ENTRYPOINT ["python", "-m", "{JOB_MODULE}"]' in dockerfile


def test_job_environment_matches_the_functions(template: dict[str, Any]) -> None:
    """The job reads the same settings as the functions, from the same parameters."""
    entries: dict[str, Any] = {}
    for entry in _container(template)["Environment"]:
        if "Fn::If" in entry:
            condition, present, absent = entry["Fn::If"]
            assert absent == {"Ref": "AWS::NoValue"}
            entries[present["Name"]] = {"Fn::If": [condition, present["Value"], absent]}
        else:
            entries[entry["Name"]] = entry["Value"]
    functions = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    # Only for `sam local --env-vars`; deployed code reads the secret.
    functions.pop("RS_MONGODB_URI")
    assert entries == functions


def test_job_task_role_reads_only_the_secrets_and_uploads(template: dict[str, Any]) -> None:
    role = _resource(template, "JobTaskRole", "AWS::IAM::Role")
    assert _trusted_service(role) == "ecs-tasks.amazonaws.com"
    assert "ManagedPolicyArns" not in role
    statements = _inline_statements(role)
    assert all(s["Effect"] == "Allow" for s in statements)
    assert _actions(statements) == {"secretsmanager:GetSecretValue", "s3:GetObject"}
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {"ReadSecrets", "ReadSourceSecrets", "ReadUploads"} and len(statements) == 3
    assert by_sid["ReadSecrets"]["Resource"] == [
        {"Ref": "MongoDbSecretArn"},
        {"Ref": "BrokerCredentialsSecretArn"},
        {"Fn::If": ["HasGeminiSecret", {"Ref": "GeminiSecretArn"}, {"Ref": "AWS::NoValue"}]},
    ]
    assert by_sid["ReadSourceSecrets"]["Resource"] == SOURCE_SECRETS
    assert by_sid["ReadUploads"]["Action"] == "s3:GetObject"
    assert by_sid["ReadUploads"]["Resource"] == {"Fn::Sub": "${UploadBucket.Arn}/*"}


SOURCE_SECRETS = {
    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
    "secret:${SourceSecretPrefix}*"
}


@pytest.mark.parametrize("function", ["GenerateWrapperFunction", "ValidateWrapperFunction"])
def test_functions_that_fetch_read_source_secrets_under_the_prefix_only(
    template: dict[str, Any], function: str
) -> None:
    statements = _function(template, function)["Policies"][0]["Statement"]
    source = [s for s in statements if s["Sid"] == "ReadSourceSecrets"]
    assert source == [
        {
            "Sid": "ReadSourceSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": SOURCE_SECRETS,
        }
    ]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["RS_SOURCE_SECRET_PREFIX"] == {"Ref": "SourceSecretPrefix"}
    assert template["Parameters"]["SourceSecretPrefix"]["AllowedPattern"].endswith("/$")


def test_job_scheduler_role_only_runs_the_task_and_passes_its_roles(template: dict[str, Any]) -> None:
    role = _resource(template, "JobSchedulerRole", "AWS::IAM::Role")
    assert _trusted_service(role) == "scheduler.amazonaws.com"
    assert "ManagedPolicyArns" not in role
    statements = _inline_statements(role)
    assert all(s["Effect"] == "Allow" for s in statements)
    assert _actions(statements) == {"ecs:RunTask", "iam:PassRole"}
    (run,) = [s for s in statements if s["Action"] == "ecs:RunTask"]
    assert run["Resource"] == {"Ref": "JobTaskDefinition"}
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["JobCluster", "Arn"]}}}
    (passing,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert sorted(map(str, passing["Resource"])) == sorted(
        map(str, [{"Fn::GetAtt": ["JobTaskRole", "Arn"]}, {"Fn::GetAtt": ["JobExecutionRole", "Arn"]}])
    )
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_job_execution_role_pulls_the_image_and_writes_its_logs(template: dict[str, Any]) -> None:
    role = _resource(template, "JobExecutionRole", "AWS::IAM::Role")
    assert _trusted_service(role) == "ecs-tasks.amazonaws.com"
    assert "ManagedPolicyArns" not in role
    statements = _inline_statements(role)
    assert _actions(statements) <= {
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    for statement in statements:
        if statement["Resource"] == "*":
            # The only ECR action without resource-level permissions.
            assert statement["Action"] == "ecr:GetAuthorizationToken"
    (logs,) = [s for s in statements if "logs:PutLogEvents" in _as_list(s["Action"])]
    assert logs["Resource"] == {"Fn::GetAtt": ["JobLogGroup", "Arn"]}


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        (EXAMPLE_IMAGE, "arn:aws:ecr:eu-central-1:123456789012:repository/resource-service/run-wrappers"),
        (
            "210987654321.dkr.ecr.us-east-1.amazonaws.com/jobs@sha256:" + "a" * 64,
            "arn:aws:ecr:us-east-1:210987654321:repository/jobs",
        ),
    ],
)
def test_job_image_pull_is_scoped_to_the_images_repository(
    template: dict[str, Any], image: str, repository: str
) -> None:
    role = _resource(template, "JobExecutionRole", "AWS::IAM::Role")
    (pull,) = [s for s in _inline_statements(role) if "ecr:BatchGetImage" in _as_list(s["Action"])]
    assert _evaluate(pull["Resource"], {"JobImageUri": image}) == repository


def test_package_check_measures_only_the_functions(template: dict[str, Any]) -> None:
    functions, _layers = _package_check().functions_and_layers(template)
    assert {f.logical_id for f in functions} == set(HANDLERS)


def test_job_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["JobClusterName"]["Value"] == {"Ref": "JobCluster"}
    assert outputs["JobTaskDefinitionArn"]["Value"] == {"Ref": "JobTaskDefinition"}
    assert outputs["JobScheduleName"]["Value"] == {"Ref": "RunWrappersSchedule"}


def _samconfig_overrides(environment: str) -> dict[str, str]:
    """parameter_overrides of `sam deploy --config-env ENV`, split as SAM splits them (at unquoted spaces)."""
    import tomllib

    with (ROOT / "samconfig.toml").open("rb") as handle:
        config = tomllib.load(handle)
    overrides: dict[str, str] = {}
    for entry in config[environment]["deploy"]["parameters"]["parameter_overrides"]:
        key, value = entry.split("=", 1)
        if value[:1] == value[-1:] == '"':
            value = value[1:-1]
        else:
            assert " " not in value, f"{entry}: SAM would cut the value at the space; quote it"
        overrides[key] = value
    return overrides


@pytest.mark.parametrize("environment", ["default", "dev", "staging", "prod"])
def test_samconfig_overrides_satisfy_the_template(template: dict[str, Any], environment: str) -> None:
    overrides = _samconfig_overrides(environment)
    parameters = template["Parameters"]
    assert set(overrides) <= set(parameters)
    assert set(JOB_PARAMETERS) <= set(overrides), "every environment sets the job's parameters"
    missing = {name for name, spec in parameters.items() if "Default" not in spec} - set(overrides)
    assert not missing, f"required parameters without a value: {missing}"
    for name, value in overrides.items():
        spec = parameters[name]
        if "AllowedValues" in spec:
            assert value in spec["AllowedValues"], name
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), name
        if spec["Type"] == "List<AWS::EC2::Subnet::Id>":
            assert all(re.fullmatch(r"subnet-[0-9a-f]{8}([0-9a-f]{9})?", v) for v in value.split(",")), name
        if spec["Type"] == "List<AWS::EC2::SecurityGroup::Id>":
            assert all(re.fullmatch(r"sg-[0-9a-f]{8}([0-9a-f]{9})?", v) for v in value.split(",")), name
    values = {name: spec.get("Default") for name, spec in parameters.items()} | overrides
    for name, rule in template["Rules"].items():
        ref, expected = rule["RuleCondition"]["Fn::Equals"]
        if values[ref["Ref"]] == expected:
            allowed, memory = rule["Assertions"][0]["Assert"]["Fn::Contains"]
            assert values[memory["Ref"]] in allowed, f"{environment}: {name}"


# Provided by the Lambda runtime.
NOT_IN_WRAPPER_FUNCTIONS = {"boto3", "botocore"}
# Shared modules the wrapper functions never load: the CLI, its plots, the dev server, the benchmarks.
DEV_ONLY_MODULES = {"cli.py", "cli_api_keys.py", "plot.py", "local_stack.py", "bench.py"}


def _third_party_distributions(paths: list[Path]) -> set[str]:
    """Distributions whose modules the files import anywhere (functions' bodies included)."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in {"shared", "functions", "jobs"}:
                    continue
                names |= {_package_check().canonical(name) for name in owners.get(top, [top])}
    return names


def _with_dependencies(names: set[str]) -> set[str]:
    """The distributions and everything pip installs with them (as installed here)."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requirements = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in requirements:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_package_check().canonical(requirement.name))
    return found


@pytest.mark.parametrize("function", ["generate_wrapper", "validate_wrapper"])
def test_wrapper_requirements_cover_every_package_shared_imports(function: str) -> None:
    sources = [path for path in (ROOT / "shared").glob("*.py") if path.name not in DEV_ONLY_MODULES]
    sources += list((ROOT / "functions" / function).glob("*.py"))
    needed = _third_party_distributions(sources) - NOT_IN_WRAPPER_FUNCTIONS

    missing = needed - _with_dependencies(
        _requirement_names(ROOT / "functions" / function / "requirements.txt")
    )

    assert not missing, f"functions/{function}/requirements.txt lacks {sorted(missing)}"


# --- tracing and alarms --------------------------------------------------------------------------

NO_VALUE = {"Ref": "AWS::NoValue"}
TOPIC_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], NO_VALUE]}


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_every_function_is_traced_with_x_ray(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    for function in HANDLERS:
        assert _function(template, function).get("Tracing", "Active") == "Active"


def test_the_alarm_topic_is_an_optional_parameter_every_alarm_notifies(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["AlarmTopicArn"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("arn:aws:sns:eu-central-1:123456789012:ops-alerts")
    assert not pattern.fullmatch("arn:aws:sqs:eu-central-1:123456789012:queue")
    assert template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }
    alarms = _alarms(template)
    assert len(alarms) >= 5
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == TOPIC_ACTIONS, name
        assert alarm["OKActions"] == TOPIC_ACTIONS, name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_the_job_alarms_watch_metrics_the_job_emits(
    template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    from datetime import UTC, datetime

    from jobs.run_wrappers.__main__ import NAMESPACE, SERVICE, emit_metrics
    from shared.flows.tick import TickResult

    emit_metrics(TickResult(owner="o", started_at=datetime.now(UTC)))
    record = json.loads(capsys.readouterr().out)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    emitted = {metric["Name"] for metric in directive["Metrics"]}
    alarms = _alarms(template)
    for name, metric in [
        ("StaleWrappersAlarm", "StaleWrappers"),
        ("FailingWrappersAlarm", "FailingWrappers"),
        ("JobTickFailuresAlarm", "TickFailures"),
    ]:
        alarm = alarms[name]
        assert metric in emitted
        assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, metric)
        assert alarm["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
        assert directive["Dimensions"] == [["service"]] and record["service"] == SERVICE
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] == 1


@pytest.mark.parametrize("function", list(MQ_QUEUES))
def test_the_queue_functions_errors_raise_an_alarm(template: dict[str, Any], function: str) -> None:
    (alarm,) = [
        alarm
        for alarm in _alarms(template).values()
        if alarm["Namespace"] == "AWS/Lambda"
        and alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]
    assert alarm["MetricName"] == "Errors" and alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] == 1
