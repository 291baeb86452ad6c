"""What a URL may say to the central API: only the query parameters an endpoint takes, and a
record's key anywhere but where the bulk import is."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor

_QUERY_NAMES: dict[int, frozenset[str]] = {}  # by route: the query parameters it takes


def known_queries_only(request: Request) -> None:
    """Refuses a query parameter the endpoint does not take: a misspelt one would be ignored unseen."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return
    if id(route) not in _QUERY_NAMES:
        _QUERY_NAMES[id(route)] = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - _QUERY_NAMES[id(route)])
    if unknown:
        raise RequestValidationError([{"loc": ("query", name), "msg": "this endpoint takes no such parameter",
                                       "type": "extra_forbidden"} for name in unknown[:5]])


def _query_names(dependant: Dependant) -> frozenset[str]:
    return frozenset(p.alias for p in dependant.query_params).union(*map(_query_names, dependant.dependencies))


class _RecordKey(Convertor[str]):
    """A record's key in a path: anything but "import", which names the bulk import beside the
    records, so that a method the import does not take is refused there with its own Allow."""

    regex = "(?!import$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


RECORD_KEY = "record_key"
register_url_convertor(RECORD_KEY, _RecordKey())
