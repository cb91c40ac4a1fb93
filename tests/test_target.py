"""Target selection exactly as contract section 2 describes it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from provisioner.connect import select_target
from provisioner.errors import TargetError
from provisioner.platform.target import (
    DEFAULT_SCOPES,
    check_repository_url,
    is_adobe_host,
    repository_url_refusal,
)

CREDENTIALS = {"AEP_CLIENT_ID": "cid", "AEP_CLIENT_SECRET": "csecret", "AEP_ORG_ID": "ORG@AdobeOrg"}


def test_nothing_configured_means_the_embedded_emulator(tmp_path: Path) -> None:
    target = select_target({}, workdir=tmp_path)
    assert target.kind == "emulator"
    assert target.url == str(tmp_path / ".provisioner" / "emulator.db")
    assert target.sandbox == "prod"
    assert target.describe() == (
        f"Target: embedded emulator {tmp_path}/.provisioner/emulator.db "
        "(org EMULATOR0000000000000000@AdobeOrg, sandbox prod)"
    )


def test_credentials_mean_the_real_platform_with_defaults() -> None:
    target = select_target(CREDENTIALS)
    assert (target.kind, target.url, target.org) == (
        "platform",
        "https://platform.adobe.io",
        "ORG@AdobeOrg",
    )
    assert target.ims_url == "https://ims-na1.adobelogin.com"
    assert target.scopes == DEFAULT_SCOPES
    assert target.describe() == "Target: https://platform.adobe.io (org ORG@AdobeOrg, sandbox prod)"
    assert "csecret" not in repr(target)


def test_flags_win_over_variables() -> None:
    env = CREDENTIALS | {"AEP_SANDBOX": "dev", "AEP_PLATFORM_URL": "https://a.example"}
    target = select_target(env, platform_url="https://b.example/", sandbox="qa")
    assert (target.url, target.sandbox) == ("https://b.example", "qa")
    assert select_target(env).sandbox == "dev"


def test_access_token_instead_of_the_exchange() -> None:
    env = {"AEP_ACCESS_TOKEN": "tok", "AEP_CLIENT_ID": "cid", "AEP_ORG_ID": "O"}
    target = select_target(env)
    assert target.kind == "platform" and target.access_token == "tok"


def test_ci_without_a_target_is_refused() -> None:
    with pytest.raises(TargetError, match="CI is set"):
        select_target({"CI": "true"})
    assert select_target({"CI": "true"}, use_emulator=True).kind == "emulator"
    assert select_target({"CI": "true", **CREDENTIALS}).kind == "platform"


def test_a_platform_url_needs_credentials() -> None:
    with pytest.raises(TargetError, match=r"needs AEP_ORG_ID, AEP_CLIENT_ID, AEP_CLIENT_SECRET"):
        select_target({"AEP_PLATFORM_URL": "https://platform.example"})


@pytest.mark.parametrize("url", ["http://platform.example", "http://10.0.0.5:8080", "ftp://x"])
def test_plain_http_only_for_loopback(url: str) -> None:
    with pytest.raises(TargetError):
        select_target(CREDENTIALS, platform_url=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8085", "http://localhost:1", "http://[::1]:9"])
def test_loopback_http_is_fine(url: str) -> None:
    env = CREDENTIALS | {"AEP_IMS_URL": url}
    assert select_target(env, platform_url=url).url == url


def test_emulator_flag_and_platform_url_conflict() -> None:
    with pytest.raises(TargetError, match="two targets"):
        select_target({}, platform_url="https://x.example", use_emulator=True)


# values checked before any request (contract section 2, round 2) ------------------------


@pytest.mark.parametrize(
    ("sandbox", "message"),
    [
        ("", "--sandbox is empty"),
        (" ", "--sandbox is empty"),
        ("ünï", "is not a sandbox name"),
        ("PROD", "sandbox names are lowercase"),
        ("dev_1", "is not a sandbox name"),
        ("-dev", "is not a sandbox name"),
    ],
)
def test_a_sandbox_name_is_checked_up_front(sandbox: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=message):
        select_target(CREDENTIALS, sandbox=sandbox)
    with pytest.raises(TargetError, match=message):
        select_target({}, sandbox=sandbox, use_emulator=True, workdir=tmp_path)


def test_aep_sandbox_is_checked_and_trimmed() -> None:
    with pytest.raises(TargetError, match="AEP_SANDBOX is empty"):
        select_target(CREDENTIALS | {"AEP_SANDBOX": ""})
    assert select_target(CREDENTIALS | {"AEP_SANDBOX": " dev-2\n"}).sandbox == "dev-2"


@pytest.mark.parametrize("value", ["false", "0", "", " FALSE "])
def test_ci_false_or_empty_is_not_ci(value: str, tmp_path: Path) -> None:
    notices: list[str] = []
    target = select_target({"CI": value}, workdir=tmp_path, notify=notices.append)
    assert target.kind == "emulator"
    assert notices == [
        "Using the embedded emulator at .provisioner/emulator.db "
        "(no AEP credentials or platform URL set)"
    ]


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_ci_set_refuses_the_fallback(value: str) -> None:
    with pytest.raises(TargetError, match="CI is set"):
        select_target({"CI": value})


def test_the_fallback_prints_nothing_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the command line prints: without `notify`, choosing the target says nothing."""
    assert select_target({}, workdir=tmp_path).kind == "emulator"
    assert capsys.readouterr() == ("", "")


def test_no_notice_when_the_emulator_is_chosen(tmp_path: Path) -> None:
    notices: list[str] = []
    select_target({}, use_emulator=True, workdir=tmp_path, notify=notices.append)
    assert notices == []


def test_a_url_with_a_password_is_refused_without_showing_it() -> None:
    url = "https://deployer:hunter2-in-url@platform.example"
    with pytest.raises(TargetError, match="has a user or password in it") as caught:
        select_target(CREDENTIALS, platform_url=url)
    assert "hunter2-in-url" not in str(caught.value) and "deployer" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["https://x.example/?a=1", "https://x.example:99999", "https://x .example"]
)
def test_a_malformed_url_is_refused(url: str) -> None:
    with pytest.raises(TargetError, match="AEP_PLATFORM_URL"):
        select_target(CREDENTIALS, platform_url=url)


def test_configured_values_are_trimmed() -> None:
    env = {
        "AEP_ACCESS_TOKEN": "tok-123\n",
        "AEP_CLIENT_ID": " cid\r\n",
        "AEP_ORG_ID": "ORG@AdobeOrg\n",
        "AEP_PLATFORM_URL": "https://platform.example/\n",
    }
    target = select_target(env)
    assert (target.access_token, target.client_id, target.org) == (
        "tok-123",
        "cid",
        "ORG@AdobeOrg",
    )
    assert target.url == "https://platform.example"


@pytest.mark.parametrize("name", ["AEP_ACCESS_TOKEN", "AEP_CLIENT_ID", "AEP_ORG_ID"])
def test_a_control_character_inside_a_header_value_is_refused_unseen(name: str) -> None:
    env = {"AEP_ACCESS_TOKEN": "tok", "AEP_CLIENT_ID": "cid", "AEP_ORG_ID": "O"}
    env[name] = "secret-part\nother-part"
    with pytest.raises(TargetError, match=f"{name} contains a control character") as caught:
        select_target(env)
    assert "secret-part" not in str(caught.value)


def test_a_non_ascii_token_is_refused_unseen() -> None:
    env = {"AEP_ACCESS_TOKEN": "tökén-value", "AEP_CLIENT_ID": "cid", "AEP_ORG_ID": "O"}
    with pytest.raises(TargetError, match="AEP_ACCESS_TOKEN holds characters") as caught:
        select_target(env)
    assert "tökén" not in str(caught.value)


def test_the_first_line_names_the_setting_that_chose_the_url() -> None:
    target = replace(select_target(CREDENTIALS), source="AEP_PLATFORM_URL")
    assert target.describe() == (
        "Target: https://platform.adobe.io (org ORG@AdobeOrg, sandbox prod), "
        "URL from AEP_PLATFORM_URL"
    )
    # Where the URL came from is not part of what the target is.
    assert target == select_target(CREDENTIALS)


# URLs the repository (the project file) names (contract section 6, "Who decides what") ---


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("https://platform.adobe.io", None),
        ("https://platform.adobe.io/", None),
        ("https://platform.adobe.io/base/path", None),
        ("https://platform-va7.adobe.io", None),
        ("https://a.b.adobe.io", None),
        ("https://PLATFORM.Adobe.IO", None),
        ("https://platform.adobe.io:443", None),
        ("http://127.0.0.1:8085", None),
        ("http://127.0.0.2:8085", None),
        ("https://127.0.0.1:8443", None),
        ("http://localhost:1", None),
        ("http://[::1]:9", None),
        ("https://evil.example.com", "evil.example.com is not platform.adobe.io"),
        ("https://platform.adobe.io.evil.com", "platform.adobe.io.evil.com is not"),
        ("https://evil-adobe.io", "evil-adobe.io is not"),
        ("https://evil.adobe.io.", "evil.adobe.io. is not"),
        ("https://x.adobe.io:8443", "port 8443 of x.adobe.io; only the default port"),
        ("https://adobe.io", "adobe.io is not"),
        ("https://.adobe.io", ".adobe.io is not"),
        ("https://a..adobe.io", "a..adobe.io is not"),
        ("https://-a.adobe.io", "-a.adobe.io is not"),
        ("https://a_b.adobe.io", "a_b.adobe.io is not"),
        ("https://adobe.io.evil.com", "adobe.io.evil.com is not"),
        ("https://evil.com%2eadobe.io", "is not platform.adobe.io"),
        ("http://platform.adobe.io", "does not use https"),
        ("http://10.0.0.2", "does not use https"),
        ("ftp://platform.adobe.io", "does not use https"),
        ("https://user@platform.adobe.io", "user or password"),
        ("https://evil.com\\@x.adobe.io", "user or password"),
        ("https://platform.adobe.io:x", "not a valid URL"),
        ("https://évil.adobe.io", "non-ASCII"),
        ("https://evil.com\t.x.adobe.io", "control"),
    ],
)
def test_a_url_from_the_repository_must_be_adobe_or_loopback(url: str, refusal: str | None) -> None:
    found = repository_url_refusal(url)
    if refusal is None:
        assert found is None
        assert check_repository_url(url, "environments.prod.platformUrl") == url.rstrip("/")
        return
    assert found is not None and refusal in found
    # Refused at use too, naming the setting; the user and password never shown.
    with pytest.raises(TargetError, match=r"^environments\.prod\.platformUrl ") as caught:
        check_repository_url(url, "environments.prod.platformUrl")
    assert "user@" not in str(caught.value)


@pytest.mark.parametrize(
    ("host", "adobe"),
    [
        ("platform.adobe.io", True),
        ("x.adobe.io", True),
        ("X.ADOBE.IO", True),
        ("adobe.io", False),
        ("x.adobe.io.", False),
        ("xadobe.io", False),
        ("x.adobe.iox", False),
        ("x.adobe.io.example", False),
        ("", False),
    ],
)
def test_adobe_hosts_end_in_adobe_io_at_a_label_boundary(host: str, adobe: bool) -> None:
    assert is_adobe_host(host) is adobe
