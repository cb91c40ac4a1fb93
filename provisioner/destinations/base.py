"""The interface every destination type implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from provisioner.manifest.model import DestinationModel

Resource = dict[str, Any]


class DestinationType(ABC):
    type: ClassVar[str]  # the manifest's `destination.type`
    label: ClassVar[str]  # for people: "Amazon Kinesis"
    spec_id: ClassVar[str]  # the connection spec of its accounts and target connections
    auth_spec: ClassVar[str]  # the auth spec name its accounts are created with
    credential_keys: ClassVar[tuple[str, ...]]  # secret auth params, in manifest order

    @abstractmethod
    def place(self, destination: DestinationModel) -> dict[str, str]:
        """The account's non-secret auth params (where it is): shared by its dataflows."""

    @abstractmethod
    def target_params(self, destination: DestinationModel) -> dict[str, str]:
        """The target connection's params (what a dataflow writes to)."""

    @abstractmethod
    def describe(self, params: dict[str, str]) -> str:
        """A target in words, from its params: `stream orders in us-east-1`."""

    @abstractmethod
    def manifest_fields(self, target: Resource, account: Resource) -> dict[str, str]:
        """The manifest's destination fields (beside type, account, credentials) of a live
        target connection and its account: for `import`."""

    def env_names(self, prefix: str) -> dict[str, str]:
        """`${env:…}` variable names for an imported account's credentials."""
        return {key: f"{prefix}_{_snake(key)}" for key in self.credential_keys}


def _snake(key: str) -> str:
    return "".join(f"_{c}" if c.isupper() else c.upper() for c in key).lstrip("_")
