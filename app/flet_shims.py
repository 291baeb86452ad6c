"""Corrections to the pinned Flet (1.0.5) that the handheld needs.

- A method called on a control (focus(), a sound's play()) is answered by the browser; when the
  control was removed from the page meanwhile (a screen changed under a tap), Flet raises inside the
  loop that reads the browser's messages, which ends that loop: the page then ignores every tap until
  a reload. The answer is delivered to whoever waits for it instead, as for a control still on the page.
- Every event (each key of a scanner's burst is one) has its payload type worked out anew from the
  control class's annotations, with typing's slow reprs: most of the server's time per scan. The type
  depends only on the class and the event, so it is worked out once per pair.
- Every event is then built from its payload with its class's type hints worked out anew, and its
  handler's parameters counted from a fresh signature: together most of Flet's own time per key of
  a scanner's burst (three messages per key reach the server). Both depend only on the class, or
  on the handler's code, so each is worked out once.
- Every message to the browser (a whole screen's controls, after a scan) is formatted for a debug log
  line whether or not that log is on: about a tenth of the server's time per repaint. It is formatted
  only when the log is on.
"""

from __future__ import annotations

import importlib
import logging
import typing
from typing import Any

import msgpack
from flet.controls import base_control
from flet.messaging.protocol import configure_encode_object_for_msgpack
from flet.messaging.session import Session
from flet_web.fastapi import flet_app

_resolve_event_type = base_control.get_event_field_type
_event_types: dict[tuple[type, str], Any] = {}
_count_params = base_control.get_param_count
_param_counts: dict[tuple[Any, bool], int | None] = {}
_type_hints: dict[type, dict[str, Any]] = {}
# The module (flet.utils exports its function under the same name).
_from_dict_module = importlib.import_module("flet.utils.from_dict")
_encode_control = configure_encode_object_for_msgpack(base_control.BaseControl)


def _deliver_invoke_result(self: Session, control_id: int, call_id: str, result: Any, error: str | None) -> None:
    waiter = self._Session__method_calls.pop(call_id, None)  # noqa: SLF001 (the pinned version's own fields)
    if waiter is None:
        return
    self._Session__method_call_results[waiter] = (result, error)  # noqa: SLF001
    waiter.set()


def _event_type(control: Any, field_name: str) -> Any:
    key = (type(control), field_name)
    if key not in _event_types:
        _event_types[key] = _resolve_event_type(control, field_name)
    return _event_types[key]


def _param_count(handler: Any) -> int | None:
    function = getattr(handler, "__func__", handler)  # a bound method's function
    code = getattr(function, "__code__", None)
    if code is None or hasattr(function, "__wrapped__") or hasattr(function, "__signature__"):
        return _count_params(handler)  # a partial, a wrapper: its signature is not its code's
    key = (code, function is not handler)
    if key not in _param_counts:
        _param_counts[key] = _count_params(handler)
    return _param_counts[key]


def _class_type_hints(cls: Any, globalns: Any = None, localns: Any = None) -> dict[str, Any]:
    # from_dict asks for a dataclass's hints in its own module's namespace: the class decides them.
    if not isinstance(cls, type) or localns is not None:
        return typing.get_type_hints(cls, globalns, localns)
    if cls not in _type_hints:
        _type_hints[cls] = typing.get_type_hints(cls, globalns)
    return _type_hints[cls]


def _send_message(self: flet_app.FletApp, message: Any) -> None:
    if flet_app.transport_log.isEnabledFor(logging.DEBUG):
        flet_app.transport_log.debug("send_message: %s", message)
    body = msgpack.packb([message.action, message.body], default=_encode_control)
    self._FletApp__send_queue.put_nowait(b"\x00" + body)  # noqa: SLF001 (the pinned version's own fields)


def install() -> None:
    Session.handle_invoke_method_results = _deliver_invoke_result
    base_control.get_event_field_type = _event_type
    base_control.get_param_count = _param_count
    _from_dict_module.get_type_hints = _class_type_hints
    flet_app.FletApp.send_message = _send_message
