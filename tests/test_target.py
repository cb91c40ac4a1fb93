"""Target selection exactly as contract section 2 describes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.connect import select_target
from provisioner.errors import TargetError
from provisioner.platform.target import DEFAULT_SCOPES

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
