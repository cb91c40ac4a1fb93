"""The interface every destination type implements, and what its manifest model must have."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel

from provisioner.destinations.naming import Finding
from provisioner.fields.templates import variable_fields

Resource = dict[str, Any]


class DestinationModel(Protocol):
    """What every type's manifest model (a manifest's `destination:`) has, besides its own
    fields: its `type` (a Literal of the type's name), an optional shared `account`, and its
    `credentials` (a model whose fields are secret references)."""

    @property
    def type(self) -> str: ...

    @property
    def account(self) -> str | None: ...

    @property
    def credentials(self) -> BaseModel: ...


M = TypeVar("M", bound=DestinationModel)


class DestinationTypeOf(ABC, Generic[M]):
    """A destination type whose manifest model is `M`."""

    type: ClassVar[str]  # the manifest's `destination.type`
    label: ClassVar[str]  # for people: "Amazon Kinesis"
    spec_id: ClassVar[str]  # the connection spec of its accounts and target connections
    auth_spec: ClassVar[str]  # the auth spec name its accounts are created with
    credential_keys: ClassVar[tuple[str, ...]]  # secret auth params, in manifest order
    # Its `destination:`, one member of the manifest's union (`type` here is the ClassVar).
    manifest_model: builtins.type[M]
    # For error messages: what a field's value should look like when its pattern is not
    # matched, and which fields' values may be repeated (never a secret).
    pattern_hints: ClassVar[Mapping[str, str]]
    shown_fields: ClassVar[frozenset[str]]

    @abstractmethod
    def place(self, destination: M) -> dict[str, str]:
        """The account's non-secret auth params (where it is): shared by its dataflows.

        Keyed as the manifest's fields are, since `account_settings` names them to people."""

    @abstractmethod
    def target_params(self, destination: M) -> dict[str, str]:
        """The target connection's params (what a dataflow writes to)."""

    @abstractmethod
    def describe(self, params: dict[str, str]) -> str:
        """A target in words, from its params: `stream orders in us-east-1`."""

    @abstractmethod
    def manifest_fields(self, target: Resource, account: Resource) -> dict[str, str]:
        """The manifest's destination fields (beside type, account, credentials) of a live
        target connection and its account: for `import`."""

    def offline_findings(self, destination: M) -> list[Finding]:
        """What can be told of the destination's fields without asking its service, beyond
        the form its manifest model checks (a region where the service is not offered).
        A field still holding `${var:}` is judged once an environment's values are in."""
        return []

    @property
    def variable_fields(self) -> tuple[str, ...]:
        """The fields of its manifest model that may hold `${var:}` references."""
        model = self.manifest_model
        if not issubclass(model, BaseModel):
            raise TypeError(f"the manifest model of {self.type} is not a pydantic model")
        return variable_fields(model)

    def account_settings(self, destination: M) -> dict[str, str]:
        """What an account is made of: its type, place and credentials (as references).
        Manifests sharing an account must agree on every one."""
        settings = {"type": destination.type, **self.place(destination)}
        for key, ref in destination.credentials:
            settings[f"credentials.{key}"] = str(ref)
        return settings

    def env_names(self, prefix: str) -> dict[str, str]:
        """`${env:…}` variable names for an imported account's credentials."""
        return {key: f"{prefix}_{_snake(key)}" for key in self.credential_keys}


# What the registry holds and callers name: a type, whichever its model.
DestinationType = DestinationTypeOf[Any]


def _snake(key: str) -> str:
    return "".join(f"_{c}" if c.isupper() else c.upper() for c in key).lstrip("_")
