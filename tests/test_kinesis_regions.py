"""The Kinesis regions the package ships: generated from botocore's endpoint data by
scripts/generate_kinesis_regions, and kept equal to the installed botocore's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provisioner.destinations.kinesis_regions import KINESIS_REGIONS
from provisioner.destinations.naming import AWS_REGION, KNOWN_REGIONS

ROOT = Path(__file__).parent.parent
GENERATOR = ROOT / "scripts" / "generate_kinesis_regions"
REGIONS_MODULE = ROOT / "provisioner" / "destinations" / "kinesis_regions.py"


def test_every_shipped_region_is_well_formed_and_known() -> None:
    shipped = [region for regions in KINESIS_REGIONS.values() for region in regions]
    assert len(shipped) == len(set(shipped)) == len(KNOWN_REGIONS)
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= KNOWN_REGIONS
    assert not [region for region in shipped if not AWS_REGION.accepts(region)]
    assert not [region for region in shipped if region.startswith("fips-")]


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_shipped_regions_are_those_of_the_installed_botocore() -> None:
    pytest.importorskip(
        "botocore",
        reason="botocore (a dev dependency) is not installed: the shipped region list cannot "
        "be compared with its endpoint data",
    )
    outcome = run_generator("--check")
    assert outcome.returncode == 0, outcome.stderr


ENDPOINTS = {
    "partitions": [
        {
            "partition": "aws",
            "regionRegex": "^(us|eu)\\-\\w+\\-\\d+$",
            "regions": {"us-east-1": {}, "eu-west-1": {}, "us-west-9": {}},
            "services": {
                "kinesis": {
                    "endpoints": {
                        "us-east-1": {"variants": [{"tags": ["fips"]}]},
                        "eu-west-1": {},
                        "fips-us-east-1": {
                            "credentialScope": {"region": "us-east-1"},
                            "deprecated": True,
                        },
                        "us-east-1-fips": {"credentialScope": {"region": "us-east-1"}},
                        "us-old-1": {"deprecated": True},
                    }
                },
                "s3": {"endpoints": {"us-west-9": {}}},
            },
        },
        {
            "partition": "aws-cn",
            "regionRegex": "^cn\\-\\w+\\-\\d+$",
            "regions": {"cn-north-1": {}},
            "services": {"kinesis": {"endpoints": {"cn-north-1": {}}}},
        },
        {
            "partition": "aws-new",
            "regionRegex": "^xx\\-\\w+\\-\\d+$",
            "regions": {"xx-east-1": {}},
            "services": {},
        },
    ]
}


def test_the_generator_keeps_regions_with_a_kinesis_endpoint_and_drops_aliases(
    tmp_path: Path,
) -> None:
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(json.dumps(ENDPOINTS), encoding="utf-8")
    output = tmp_path / "regions.py"
    assert run_generator("--endpoints", str(endpoints), "--output", str(output)).returncode == 0
    namespace: dict[str, Any] = {}
    exec(compile(output.read_text(encoding="utf-8"), str(output), "exec"), namespace)
    assert namespace["KINESIS_REGIONS"] == {
        "aws": ("eu-west-1", "us-east-1"),
        "aws-cn": ("cn-north-1",),
    }
    check = run_generator("--endpoints", str(endpoints), "--output", str(output), "--check")
    assert check.returncode == 0, check.stderr


def test_the_generator_check_fails_on_a_stale_list(tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(json.dumps(ENDPOINTS), encoding="utf-8")
    stale = tmp_path / "regions.py"
    stale.write_text(REGIONS_MODULE.read_text(encoding="utf-8"), encoding="utf-8")
    outcome = run_generator("--endpoints", str(endpoints), "--output", str(stale), "--check")
    assert outcome.returncode == 1
    assert "is stale: run scripts/generate_kinesis_regions" in outcome.stderr
    assert stale.read_text(encoding="utf-8") == REGIONS_MODULE.read_text(encoding="utf-8")
