"""What the destination services accept as names and places, known without asking them.

Each rule states the service's own documented form. The manifest models apply them as their
fields' constraints (so a name is judged in one place: when a manifest is loaded, and again
for each environment once its `${var:}` values are in); what a pattern cannot say, such as
whether Kinesis is offered in a well-formed region, is told by `region_finding`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import StringConstraints

from provisioner.destinations.kinesis_regions import KINESIS_REGIONS

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class NameRule:
    """A name's form: a pattern, and lengths where the pattern does not hold them."""

    pattern: str
    hint: str  # what messages say of a value that does not match, after the value itself
    min_length: int | None = None
    max_length: int | None = None

    def constraints(self) -> StringConstraints:
        return StringConstraints(
            strict=True,
            min_length=self.min_length,
            max_length=self.max_length,
            pattern=self.pattern,
        )

    def accepts(self, value: str) -> bool:
        """As the model's constraints decide (the patterns are anchored at both ends)."""
        too_short = self.min_length is not None and len(value) < self.min_length
        too_long = self.max_length is not None and len(value) > self.max_length
        return not (too_short or too_long) and re.fullmatch(self.pattern, value) is not None


# Amazon Kinesis API Reference, CreateStream: StreamName, 1 to 128 characters,
# pattern [a-zA-Z0-9_.-]+.
KINESIS_STREAM = NameRule(
    pattern=r"^[A-Za-z0-9_.-]+$",
    hint="is not a Kinesis stream name (letters, digits, '_', '.', '-'; at most 128)",
    min_length=1,
    max_length=128,
)
# The form of every region name in botocore's partitions: an area's two letters, or `eusc`
# (the European Sovereign Cloud's), then a partition's word if any, a direction and a
# number (us-east-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1). Whether Kinesis is
# offered there is `region_finding`'s.
AWS_REGION = NameRule(
    pattern=r"^([a-z]{2}|eusc)(-[a-z]+)?-[a-z]+-[0-9]+$",
    hint="is not an AWS region (such as us-east-1)",
)
# Microsoft's "Naming rules and restrictions for Azure resources", Microsoft.EventHub,
# namespaces: 6 to 50 characters, alphanumerics and hyphens, starting with a letter and
# ending with a letter or number. (Service Bus's retired namespace API also refused names
# ending in `-sb` or `-mgmt`; Microsoft's current rules for Event Hubs do not.)
EVENT_HUBS_NAMESPACE = NameRule(
    pattern=r"^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$",
    hint="is not an Event Hubs namespace (6 to 50 letters, digits and hyphens, starting with "
    "a letter)",
)
# The same page, Microsoft.EventHub, namespaces / eventhubs: 1 to 256 characters,
# alphanumerics, periods, hyphens and underscores, starting and ending with an alphanumeric.
EVENT_HUB = NameRule(
    pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,254}[A-Za-z0-9])?$",
    hint="is not an event hub name (letters, digits, '.', '_', '-')",
)

KNOWN_REGIONS = frozenset(region for regions in KINESIS_REGIONS.values() for region in regions)


@dataclass(frozen=True)
class Finding:
    """What an offline check found in one field of a destination (never a secret one)."""

    severity: Severity
    field: str
    message: str


def region_finding(field: str, region: str) -> Finding | None:
    """Whether Kinesis is offered in `region`, as far as the shipped list can tell.

    A region one edit away from a known one, other than in its number, is a typo: an error
    that names the region meant. Any other unknown region is a warning, as AWS opens regions
    after a release of this list (most often the next number of an area: ap-southeast-8).
    A malformed region, or a `${var:}` template, is left to the manifest model.
    """
    if region in KNOWN_REGIONS or not AWS_REGION.accepts(region):
        return None
    meant = sorted(known for known in KNOWN_REGIONS if _typo_of(region, known))
    if meant:
        choices = " or ".join(f"'{known}'" for known in meant)
        message = (
            f"'{region}' is not an AWS region where Kinesis is offered; did you mean {choices}?"
        )
        return Finding("error", field, message)
    message = (
        f"'{region}' is not in this version's list of AWS regions where Kinesis is offered: "
        "check its spelling (a region opened since is fine)"
    )
    return Finding("warning", field, message)


def _typo_of(region: str, known: str) -> bool:
    return one_edit_apart(region, known) and _area(region) != _area(known)


def _area(region: str) -> str:
    """A region without its number: `us-east` of `us-east-1`."""
    return region.rsplit("-", 1)[0]


def one_edit_apart(first: str, second: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of neighbours turns one text
    into the other (a Damerau-Levenshtein distance of exactly 1)."""
    if first == second or abs(len(first) - len(second)) > 1:
        return False
    if len(first) != len(second):
        shorter, longer = sorted((first, second), key=len)
        at = _common_prefix(shorter, longer)
        return shorter[at:] == longer[at + 1 :]
    differing = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
    if len(differing) == 1:
        return True
    if len(differing) != 2 or differing[1] != differing[0] + 1:
        return False
    i, j = differing
    return first[i] == second[j] and first[j] == second[i]


def _common_prefix(first: str, second: str) -> int:
    length = 0
    while length < min(len(first), len(second)) and first[length] == second[length]:
        length += 1
    return length
