"""The project file: discovery, defaults, strict validation, environments' variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from provisioner.cli import cli, project_schema_text
from provisioner.manifest import (
    Project,
    ProjectError,
    check_environments,
    find_project,
    load_and_check,
    load_project,
)

ROOT = Path(__file__).parent.parent
EXAMPLE = """\
project: marketing-activation
manifests: [destinations/]
safety:
  deleteThreshold: 0.5
  minManaged: 4
environments:
  dev:
    sandbox: dev
    vars: {stream: summer-campaign-dev}
  prod:
    sandbox: prod
    platformUrl: https://platform.adobe.io
    vars: {stream: summer-campaign}
"""
MANIFEST = """\
version: 1
name: summer
destination:
  type: amazon-kinesis
  region: us-east-1
  stream: ${var:stream}
  credentials:
    accessKeyId: ${env:AWS_KEY_ID}
    secretKey: ${env:AWS_SECRET}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_contract_example_loads(tmp_path: Path) -> None:
    project = load_project(write(tmp_path / "provisioner.yaml", EXAMPLE))
    assert project.project == "marketing-activation"
    assert project.root == tmp_path.resolve()
    assert project.manifest_paths() == [tmp_path.resolve() / "destinations/"]
    assert (project.safety.deleteThreshold, project.safety.minManaged) == (0.5, 4)
    assert list(project.environments) == ["dev", "prod"]
    assert project.environment("dev").sandbox == "dev"
    assert project.environment("dev").platformUrl is None
    assert project.environment("prod").platformUrl == "https://platform.adobe.io"
    assert project.environment("prod").vars == {"stream": "summer-campaign"}
    with pytest.raises(
        ProjectError, match=r"environment 'qa' is not defined \(defined: dev, prod\)"
    ):
        project.environment("qa")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_defaults(tmp_path: Path, text: str) -> None:
    project = load_project(write(tmp_path / "provisioner.yaml", text))
    assert project.project == "default"
    assert project.manifests == []
    assert (project.safety.deleteThreshold, project.safety.minManaged) == (0.3, 10)
    assert project.environments == {}


def test_found_in_the_directory_or_its_nearest_parent(tmp_path: Path) -> None:
    assert find_project(tmp_path) is None
    write(tmp_path / "provisioner.yaml", "project: outer\n")
    write(tmp_path / "team" / "provisioner.yaml", "project: inner\n")
    deep = tmp_path / "team" / "a" / "b"
    deep.mkdir(parents=True)
    manifest = write(deep / "m.yaml", MANIFEST)
    found = [find_project(p) for p in (tmp_path, tmp_path / "team", deep, manifest)]
    assert [p.project if p else None for p in found] == ["outer", "inner", "inner", "inner"]
    inner = found[2]
    assert isinstance(inner, Project)
    assert inner.root == (tmp_path / "team").resolve()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "project: Marketing\n",
            "1:10: error: 'Marketing' is not a project name (lowercase letters, digits, '.', "
            "'_' and '-', starting with a letter or digit; at most 64) (at project)",
        ),
        ("project: -x\n", "1:10: error: '-x' is not a project name"),
        (f"project: {'a' * 65}\n", "1:10: error: '" + "a" * 65 + "' is not a project name"),
        ("project: 'a b'\n", "1:10: error: 'a b' is not a project name"),
        ("project: 7\n", "1:10: error: expected a string, got a number (at project)"),
        (
            "projet: x\n",
            "1:1: error: unknown key 'projet'; did you mean 'project'? (at projet)",
        ),
        ("manifests: dest/\n", "1:12: error: expected a list, got a string (at manifests)"),
        ("manifests: ['']\n", "1:13: error: must not be empty (at manifests[0])"),
        (
            "safety: {deleteTreshold: 0.1}\n",
            "1:10: error: unknown key 'deleteTreshold'; did you mean 'deleteThreshold'? "
            "(at safety.deleteTreshold)",
        ),
        (
            "safety: {deleteThreshold: 1.5}\n",
            "1:27: error: input should be less than or equal to 1 (at safety.deleteThreshold)",
        ),
        (
            "safety: {deleteThreshold: '0.3'}\n",
            "1:27: error: expected a number, got a string (at safety.deleteThreshold)",
        ),
        (
            "safety: {minManaged: -1}\n",
            "1:22: error: input should be greater than or equal to 0 (at safety.minManaged)",
        ),
        (
            "safety: {minManaged: true}\n",
            "1:22: error: expected a whole number, got a boolean (at safety.minManaged)",
        ),
        (
            "environments: {dev: {}}\n",
            "1:21: error: required key 'sandbox' is missing (at environments.dev.sandbox)",
        ),
        (
            "environments:\n  dev:\n    sandbox: Dev\n",
            "3:14: error: 'Dev' is not a sandbox name (lowercase letters, digits and hyphens) "
            "(at environments.dev.sandbox)",
        ),
        (
            "environments:\n  dev:\n    sandbox: ''\n",
            "3:14: error: must not be empty (at environments.dev.sandbox)",
        ),
        (
            "environments:\n  dev:\n    sandbox: dev\n    sandbx: dev\n",
            "4:5: error: unknown key 'sandbx'; did you mean 'sandbox'? "
            "(at environments.dev.sandbx)",
        ),
        (
            "environments:\n  dev:\n    sandbox: dev\n    colour: red\n",
            "4:5: error: unknown key 'colour'; expected one of: sandbox, platformUrl, vars, "
            "clients (at environments.dev.colour)",
        ),
        (
            "environments:\n  'my env':\n    sandbox: dev\n",
            "2:3: error: 'my env' is not an environment name (letters, digits, '.', '_' and "
            "'-', starting with a letter or digit; at most 64) (at environments.my env)",
        ),
        (
            "environments:\n  dev:\n    sandbox: dev\n    vars: {'1st': x}\n",
            "4:12: error: '1st' is not a variable name",
        ),
        (
            "environments:\n  dev:\n    sandbox: dev\n    vars: {a: 1}\n",
            "4:15: error: expected a string, got a number (at environments.dev.vars.a)",
        ),
        (
            'environments:\n  dev:\n    sandbox: dev\n    vars: {a: "x\\ey"}\n',
            "4:15: error: contains the control character \\x1b (character 2)",
        ),
        ("- a\n", "1:1: error: a project file must be a mapping of keys to values"),
        ("project: a\n---\nproject: b\n", "error: a project file holds one YAML document"),
        ("project: a\nproject: b\n", "2:1: error: duplicate key 'project'"),
        ("project: [\n", "2:1: error: invalid YAML"),
    ],
)
def test_invalid_project_files(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "provisioner.yaml", text)
    with pytest.raises(ProjectError) as raised:
        load_project(path)
    problems = [p.format().removeprefix(str(path)).removeprefix(":") for p in raised.value.problems]
    assert len(problems) == 1, problems
    assert problems[0].removeprefix(" ").startswith(expected), problems[0]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://platform.adobe.io", None),
        ("https://platform.adobe.io/base/", None),
        ("http://127.0.0.1:8085", None),
        ("http://localhost:8085", None),
        ("http://[::1]:8085", None),
        ("http://platform.example.com", "plain http:// to platform.example.com is refused"),
        ("ftp://platform.adobe.io", "'ftp://platform.adobe.io' is not an http(s) URL"),
        ("platform.adobe.io", "'platform.adobe.io' is not an http(s) URL"),
        ("https://user:hunter2@platform.adobe.io", "must not hold a user or password"),
        ("https://user@platform.adobe.io", "must not hold a user or password"),
    ],
)
def test_platform_urls(tmp_path: Path, url: str, error: str | None) -> None:
    text = f"environments:\n  prod:\n    sandbox: prod\n    platformUrl: '{url}'\n"
    path = write(tmp_path / "provisioner.yaml", text)
    if error is None:
        assert load_project(path).environment("prod").platformUrl == url
        return
    with pytest.raises(ProjectError) as raised:
        load_project(path)
    (problem,) = raised.value.problems
    assert error in problem.message
    assert (problem.location.line, problem.location.column, problem.path) == (
        4,
        18,
        "environments.prod.platformUrl",
    )
    assert "hunter2" not in str(raised.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "project: X\nsafety: {minManaged: -1}\nenvironments:\n  dev: {sandbox: D}\n"
    with pytest.raises(ProjectError) as raised:
        load_project(write(tmp_path / "provisioner.yaml", text))
    assert [p.location.line for p in raised.value.problems] == [1, 2, 4]


def test_every_environment_defines_every_variable(tmp_path: Path) -> None:
    project = load_project(
        write(
            tmp_path / "provisioner.yaml",
            "environments:\n"
            "  dev: {sandbox: dev, vars: {stream: s-dev}}\n"
            "  qa: {sandbox: qa}\n"
            "  prod: {sandbox: prod, vars: {stream: 'not a stream'}}\n",
        )
    )
    manifest = write(tmp_path / "m.yaml", MANIFEST)
    manifests = load_and_check([manifest]).manifests
    problems = [p.format() for p in check_environments(project, manifests)]
    assert problems == [
        f"{manifest}:6:11: error: variable 'stream' is not defined in environment 'qa' "
        "(environments.qa.vars) (at destination.stream)",
        f"{manifest}:6:11: error: 'not a stream' is not a Kinesis stream name (letters, digits, "
        "'_', '.', '-'; at most 128) (with the values of environment 'prod') "
        "(at destination.stream)",
    ]


def test_variables_need_environments(tmp_path: Path) -> None:
    manifests = load_and_check([write(tmp_path / "m.yaml", MANIFEST)]).manifests
    without = check_environments(None, manifests)
    assert [p.message for p in without] == [
        "variable 'stream' has no value: no project file (provisioner.yaml) defines environments"
    ]
    empty = load_project(write(tmp_path / "provisioner.yaml", "project: p\n"))
    assert check_environments(empty, manifests)[0].message.endswith("defines no environments")
    plain = load_and_check([write(tmp_path / "p.yaml", MANIFEST.replace("${var:stream}", "s"))])
    assert check_environments(None, plain.manifests) == []


def test_validate_reads_the_project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "provisioner.yaml", EXAMPLE.replace("summer-campaign-dev", "a b"))
    write(tmp_path / "destinations" / "m.yaml", MANIFEST)
    monkeypatch.chdir(tmp_path / "destinations")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert (
        f"{tmp_path.resolve()}/destinations/m.yaml:6:11: error: 'a b' is not a Kinesis stream "
        "name" in result.output
    )
    assert "1 manifest(s) in 1 file(s): 1 error(s)" in result.output

    write(tmp_path / "provisioner.yaml", EXAMPLE)
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["validate", "m.yaml"])
    assert result.exit_code == 0, result.output


def test_validate_reports_an_invalid_project_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "provisioner.yaml", "project: Bad\n")
    write(tmp_path / "m.yaml", MANIFEST.replace("${var:stream}", "s"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "--format", "json", "m.yaml"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [(p["file"], p["line"], p["path"]) for p in report["problems"]] == [
        (str(tmp_path.resolve() / "provisioner.yaml"), 1, "project")
    ]


def test_validate_without_paths_or_project_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "give manifest PATHS, or list `manifests` in provisioner.yaml" in result.output


def test_schema_file_is_current() -> None:
    committed = (ROOT / "schemas" / "project.schema.json").read_text(encoding="utf-8")
    assert committed == project_schema_text(), (
        "run: provisioner schema --project > schemas/project.schema.json"
    )


def test_the_example_conforms_to_the_published_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    result = CliRunner().invoke(cli, ["schema", "--project"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    jsonschema.validate(YAML(typ="safe").load(EXAMPLE), schema)
    for wrong in ({"project": "Bad"}, {"environments": {"a b": {"sandbox": "x"}}}, {"x": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


SHARED_SANDBOX = """\
environments:
  {first}:
    sandbox: prod{first_url}
  {second}:
    sandbox: prod{second_url}
"""


def shared(first_url: str = "", second_url: str = "", names: tuple[str, str] = ("a", "b")) -> str:
    def url(value: str) -> str:
        return f"\n    platformUrl: {value}" if value else ""

    return SHARED_SANDBOX.format(
        first=names[0], second=names[1], first_url=url(first_url), second_url=url(second_url)
    )


def validate_in(tmp_path: Path, project: str, *args: str) -> tuple[int, str]:
    """`validate` of one valid manifest, run beside the project file `project`."""
    write(tmp_path / "provisioner.yaml", project)
    write(tmp_path / "m.yaml", MANIFEST.replace("${var:stream}", "s"))
    result = CliRunner().invoke(cli, ["validate", *args, str(tmp_path / "m.yaml")])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("first_url", "second_url"),
    [
        ("", ""),
        ("", "https://platform.adobe.io"),
        ("https://platform.adobe.io", "https://Platform.Adobe.IO:443/"),
        ("http://127.0.0.1:8085/aep", "http://127.0.0.1:8085/aep/"),
    ],
)
def test_validate_warns_when_two_environments_share_a_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_url: str, second_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = validate_in(tmp_path, shared(first_url, second_url, ("prod-us", "prod-eu")))
    assert code == 0, output
    file = tmp_path.resolve() / "provisioner.yaml"
    line = 5 if first_url else 4
    shown = (first_url or "https://platform.adobe.io").rstrip("/")
    assert (
        f"{file}:{line + 1}:14: warning: environments 'prod-us' (line 3) and 'prod-eu' both "
        f"use sandbox 'prod' at {shown}: they are kept apart on the platform (each environment "
        "only touches the objects it made), but sharing one sandbox between environments is "
        "usually a mistake (at environments.prod-eu.sandbox)"
    ) in output
    assert "1 manifest(s) in 1 file(s): 0 error(s), 1 warning(s)" in output


@pytest.mark.parametrize(
    "project",
    [
        shared("https://platform.adobe.io", "https://platform-eu.adobe.io"),
        shared("", "http://127.0.0.1:8085"),
        shared("http://127.0.0.1:8085", "http://127.0.0.1:8086"),
        "environments:\n  a: {sandbox: prod}\n  b: {sandbox: dev}\n",
        "environments:\n  a: {sandbox: prod}\n",
        "project: p\n",
    ],
)
def test_environments_on_different_sandboxes_or_platforms_give_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = validate_in(tmp_path, project)
    assert code == 0, output
    assert ": warning:" not in output
    assert "0 error(s), 0 warning(s)" in output


def test_every_environment_sharing_a_sandbox_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    project = "environments:\n  a: {sandbox: prod}\n  b: {sandbox: prod}\n  c: {sandbox: prod}\n"
    code, output = validate_in(tmp_path, project, "--format", "json")
    assert code == 0, output
    report = json.loads(output)
    assert (report["valid"], report["errors"], report["warnings"]) == (True, 0, 2)
    assert [(p["severity"], p["line"], p["path"]) for p in report["problems"]] == [
        ("warning", 3, "environments.b.sandbox"),
        ("warning", 4, "environments.c.sandbox"),
    ]
    assert all("'a' (line 2)" in p["message"] for p in report["problems"])


def test_the_shared_sandbox_warning_in_ci_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = validate_in(tmp_path, shared(), "--format", "github")
    assert code == 0, output
    (line,) = output.splitlines()
    file = str(tmp_path.resolve() / "provisioner.yaml").replace(":", "%3A").replace(",", "%2C")
    assert line.startswith(
        f"::warning file={file},line=5,col=14::environments 'a' (line 3) and 'b' "
        "both use sandbox 'prod' at https://platform.adobe.io: they are kept apart"
    ), line
    assert line.endswith("(at environments.b.sandbox)")

    code, output = validate_in(tmp_path, shared(), "--format", "sarif")
    assert code == 0, output
    (result,) = json.loads(output)["runs"][0]["results"]
    assert result["level"] == "warning"
    assert result["properties"] == {"fieldPath": "environments.b.sandbox"}
    assert "usually a mistake" in result["message"]["text"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "provisioner.yaml", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 5, "startColumn": 14}


def test_a_shared_sandbox_does_not_hide_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "provisioner.yaml", shared())
    write(tmp_path / "m.yaml", MANIFEST)  # uses ${var:stream}, which neither environment has
    result = CliRunner().invoke(cli, ["validate", "--format", "json", "m.yaml"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert (report["errors"], report["warnings"]) == (2, 1)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://evil.example.com", "evil.example.com is not platform.adobe.io"),
        ("https://platform.adobe.io.evil.com", "platform.adobe.io.evil.com is not"),
        ("https://evil-adobe.io", "evil-adobe.io is not"),
        ("https://x.adobe.io.", "x.adobe.io. is not"),
        ("https://x.adobe.io:8443", "only the default port is accepted"),
    ],
)
def test_a_platform_url_off_adobe_is_an_error_on_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, error: str
) -> None:
    """The repository cannot send the operator's token elsewhere: validate says so on the
    line, as an error, before any run would refuse it."""
    monkeypatch.chdir(tmp_path)
    project = f"environments:\n  prod:\n    sandbox: prod\n    platformUrl: '{url}'\n"
    code, output = validate_in(tmp_path, project, "--format", "json")
    assert code == 1, output
    report = json.loads(output)
    (problem,) = report["problems"]
    assert (problem["severity"], problem["line"], problem["column"], problem["path"]) == (
        "error",
        4,
        18,
        "environments.prod.platformUrl",
    )
    assert error in problem["message"]
    assert "AEP_PLATFORM_URL or --platform-url" in problem["message"]


def test_a_project_file_cannot_name_the_ims_url(tmp_path: Path) -> None:
    """Tokens come from AEP_IMS_URL, the operator's: the project file has no key for it."""
    text = "environments:\n  prod:\n    sandbox: prod\n    imsUrl: https://evil.example.com\n"
    with pytest.raises(ProjectError) as raised:
        load_project(write(tmp_path / "provisioner.yaml", text))
    (problem,) = raised.value.problems
    assert "unknown key 'imsUrl'" in problem.message
