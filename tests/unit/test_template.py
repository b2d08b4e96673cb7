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


def test_upload_bucket_cors_allows_the_presigned_post_the_api_hands_out(template: dict[str, Any]) -> None:
    """POST /uploads returns a presigned POST form, so browsers must be allowed to POST to the bucket."""
    bucket = template["Resources"]["UploadBucket"]["Properties"]
    methods = bucket["CorsConfiguration"]["CorsRules"][0]["AllowedMethods"]
    assert "POST" in methods
