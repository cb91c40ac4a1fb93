"""Routing by one table: areas (a service under its path prefix), each with its routes.

A request goes to the first area whose prefix its path starts with. The area admits it (the
gateway's checks, the admin credentials) unless the route is open, then the first route
whose pattern matches the rest of the path answers, by the handler for the request's
method. No route: the area's 404; a route without that method: the area's 405. Every
refusal is an `ApiError`, answered in the area's own shape; an area may also turn other
exceptions of its handlers into refusals (the admin endpoints answer a bad body with 400).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from provisioner.emulator.errors import ApiError
from provisioner.emulator.messages import Request, Response, json_response
from provisioner.emulator.parts import Parts
from provisioner.emulator.resources import Caller


@dataclass(frozen=True)
class Call:
    """A request as its handler gets it: the path's captured segments, and the caller the
    area admitted (the gateway's areas only)."""

    request: Request
    params: Mapping[str, str]
    admitted: Caller | None = None

    @property
    def caller(self) -> Caller:
        if self.admitted is None:
            raise RuntimeError("only an area behind the gateway has a caller")
        return self.admitted


Handler = Callable[[Parts, Call], Response]
Admit = Callable[[Parts, Request], "Caller | None"]


@dataclass(frozen=True)
class Route:
    """`pattern` is the path below the area's prefix, `/`-separated; a `{name}` segment
    captures any segment, or one of `where[name]` when given."""

    pattern: str
    methods: Mapping[str, Handler]
    where: Mapping[str, frozenset[str]] = field(default_factory=dict)
    refusal: str = "{method} is not allowed here"  # the 405's message
    open: bool = False  # answered without the area's admission (a readiness probe)
    expected: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expected", _segments(self.pattern))

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        if len(self.expected) != len(segments):
            return None
        params: dict[str, str] = {}
        for wanted, given in zip(self.expected, segments, strict=True):
            if wanted.startswith("{"):
                name = wanted[1:-1]
                if name in self.where and given not in self.where[name]:
                    return None
                params[name] = given
            elif wanted != given:
                return None
        return params


def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)


def _never_admits(_parts: Parts, _request: Request) -> Caller | None:
    return None


@dataclass(frozen=True)
class Area:
    """One service of the emulator: a path prefix and its routes."""

    prefix: str
    routes: Sequence[Route]
    not_found: Callable[[Request], ApiError]
    not_allowed: Callable[[Request, str], ApiError]
    admit: Admit = _never_admits
    platform: bool = True  # counted in the statistics, open to faults (not admin)
    metered: bool = False  # behind the gateway: the quota applies
    # Exceptions of the handlers answered as refusals, and how.
    translated: tuple[type[Exception], ...] = ()
    translate: Callable[[Exception], ApiError] | None = None
    segments: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", _segments(self.prefix))

    def holds(self, segments: Sequence[str]) -> bool:
        return tuple(segments[: len(self.segments)]) == self.segments

    def find(self, segments: Sequence[str]) -> tuple[Route, dict[str, str]] | None:
        rest = segments[len(self.segments) :]
        for route in self.routes:
            params = route.match(rest)
            if params is not None:
                return route, params
        return None


class RouteTable:
    def __init__(self, areas: Sequence[Area]) -> None:
        if not areas or areas[-1].segments:
            raise ValueError("the last area is the fallback: its prefix is empty")
        self.areas = tuple(areas)

    def area(self, request: Request) -> Area:
        return next(area for area in self.areas if area.holds(request.segments))

    def answer(self, parts: Parts, area: Area, request: Request) -> Response:
        """The area's answer to `request`; a refusal is answered in the area's shape."""
        try:
            return self._dispatch(parts, area, request)
        except ApiError as error:
            return error_response(error)

    def _dispatch(self, parts: Parts, area: Area, request: Request) -> Response:
        found = area.find(request.segments)
        admitted = None if found is not None and found[0].open else area.admit(parts, request)
        if found is None:
            raise area.not_found(request)
        route, params = found
        handler = route.methods.get(request.method)
        if handler is None:
            refusal = route.refusal.format(method=request.method, **params)
            raise area.not_allowed(request, refusal)
        try:
            return handler(parts, Call(request, params, admitted))
        except area.translated as error:
            if area.translate is None:
                raise
            raise area.translate(error) from None


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.body(str(uuid.uuid4())), error.headers)
