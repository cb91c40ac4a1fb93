"""What Kinesis's answers mean, in words: its error codes, and which regions exist.

Error codes are read as Kinesis writes them (`UnrecognizedClientException`,
`InvalidSignatureException`, `AccessDeniedException`) and as AWS's query-protocol services
and IAM-enforcing emulators write them (`InvalidClientTokenId`, `SignatureDoesNotMatch`,
`AccessDenied`); an error sent as an XML `ErrorResponse` to a JSON client, which botocore
leaves as the bare HTTP status, has its code and message read from the XML.
"""

from __future__ import annotations

import difflib
import functools
import re

import botocore.session  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from provisioner.preflight.model import Finding

REJECTED_KEY = frozenset({"UnrecognizedClientException", "InvalidClientTokenId"})
BAD_SIGNATURE = frozenset({"InvalidSignatureException", "SignatureDoesNotMatch"})
EXPIRED = frozenset({"ExpiredTokenException", "ExpiredToken", "RequestExpired"})
DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
MINIMAL_POLICY = "kinesis:ListStreams, kinesis:PutRecord and kinesis:PutRecords"
_XML_CODE = re.compile(r"<Code>([^<]{1,200})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{0,1000})</Message>")
_HTML_TITLE = re.compile(r"<title>([^<]{0,200})</title>", re.IGNORECASE)


def code_of(error: ClientError) -> str:
    """The error's code (`AccessDeniedException`), from the XML body where botocore could
    only give the HTTP status."""
    said = error.response.get("Error", {})
    code = str(said.get("Code") or "")
    if not code or code.isdigit():
        found = _XML_CODE.search(str(said.get("Message") or ""))
        if found:
            return found.group(1)
    return code


def message_of(error: ClientError) -> str:
    """The error's message: from the XML body where there is one, the title of an HTML
    error page (a proxy's, a server's crash page) rather than its markup."""
    said = str(error.response.get("Error", {}).get("Message") or "")
    found = _XML_MESSAGE.search(said) or _HTML_TITLE.search(said)
    return found.group(1).strip() if found else said


def refused(error: ClientError, region: str, action: str) -> Finding | None:
    """The finding for an answer that refuses the keys or the action; None for any other
    error (the caller says what it was)."""
    code = code_of(error)
    if code in REJECTED_KEY:
        return Finding.unreachable(
            f"the access key id is not accepted in {region} (an unknown or deactivated key, "
            "or a region not enabled for the account)"
        )
    if code in BAD_SIGNATURE:
        return Finding.unreachable(
            "the secret key does not match the access key id (the request's signature was refused)"
        )
    if code in EXPIRED:
        return Finding.unreachable(f"the credentials have expired ({code})")
    if code in DENIED:
        return Finding.unreachable(
            f"the keys are accepted in {region}, but {action} is denied; the platform needs "
            f"{MINIMAL_POLICY}"
        )
    return None


def no_answer(error: Exception, region: str, endpoint: str | None) -> Finding:
    """The finding when Kinesis gave no usable answer: a connection that failed, a timeout,
    a server error. In a region botocore does not know, that is the likely reason."""
    if isinstance(error, ClientError):
        code = code_of(error)
        what = f"Kinesis answered {'HTTP ' if code.isdigit() else ''}{code}: {message_of(error)}"
    else:
        what = str(error)
    unknown = unknown_region(region)
    if unknown:
        return Finding.unreachable(f"{unknown}; {what}")
    at = f" at {endpoint}" if endpoint and endpoint not in what else ""
    return Finding.unreachable(f"no answer from Kinesis in {region}{at}: {what}")


def unknown_region(region: str) -> str | None:
    """Words for a region botocore's endpoint data does not list (with the known regions
    a typo away, if any); None for a known one."""
    known = known_regions()
    if region in known:
        return None
    close = difflib.get_close_matches(region, sorted(known), n=2, cutoff=0.8)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"{region} is not a Kinesis region botocore knows{hint}"


@functools.cache
def _partitions() -> dict[str, frozenset[str]]:
    """botocore's own endpoint data: each partition's Kinesis regions (read offline)."""
    session = botocore.session.get_session()
    return {
        partition: frozenset(session.get_available_regions("kinesis", partition))
        for partition in session.get_available_partitions()
    }


def known_regions() -> frozenset[str]:
    return frozenset().union(*_partitions().values())


def partition_regions(region: str) -> list[str]:
    """The Kinesis regions of `region`'s partition (aws, aws-cn, aws-us-gov, ...); those of
    the commercial partition when botocore does not know the region."""
    partitions = _partitions()
    for regions in partitions.values():
        if region in regions:
            return sorted(regions)
    return sorted(partitions.get("aws", frozenset()))
