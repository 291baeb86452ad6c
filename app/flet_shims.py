"""Three corrections to the pinned Flet (1.0.5) that the handheld needs.

- A method called on a control (focus(), a sound's play()) is answered by the browser; when the
  control was removed from the page meanwhile (a screen changed under a tap), Flet raises inside the
  loop that reads the browser's messages, which ends that loop: the page then ignores every tap until
  a reload. The answer is delivered to whoever waits for it instead, as for a control still on the page.
- Every event (each key of a scanner's burst is one) has its payload type worked out anew from the
  control class's annotations, with typing's slow reprs: most of the server's time per scan. The type
  depends only on the class and the event, so it is worked out once per pair.
- Every message to the browser (a whole screen's controls, after a scan) is formatted for a debug log
  line whether or not that log is on: about a tenth of the server's time per repaint. It is formatted
  only when the log is on.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack
from flet.controls import base_control
from flet.messaging.protocol import configure_encode_object_for_msgpack
from flet.messaging.session import Session
from flet_web.fastapi import flet_app

_resolve_event_type = base_control.get_event_field_type
_event_types: dict[tuple[type, str], Any] = {}
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


def _send_message(self: flet_app.FletApp, message: Any) -> None:
    if flet_app.transport_log.isEnabledFor(logging.DEBUG):
        flet_app.transport_log.debug("send_message: %s", message)
    body = msgpack.packb([message.action, message.body], default=_encode_control)
    self._FletApp__send_queue.put_nowait(b"\x00" + body)  # noqa: SLF001 (the pinned version's own fields)


def install() -> None:
    Session.handle_invoke_method_results = _deliver_invoke_result
    base_control.get_event_field_type = _event_type
    flet_app.FletApp.send_message = _send_message
