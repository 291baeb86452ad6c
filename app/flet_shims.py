"""A correction to the pinned Flet (1.0.5) that the handheld cannot work without.

A method called on a control (focus(), a sound's play()) is answered by the browser; when the control
was removed from the page meanwhile (a screen changed under a tap), Flet raises inside the loop that
reads the browser's messages, which ends that loop: the page then ignores every tap until a reload.
The answer is delivered to whoever waits for it instead, as for a control still on the page.
"""

from __future__ import annotations

from typing import Any

from flet.messaging.session import Session


def _deliver_invoke_result(self: Session, control_id: int, call_id: str, result: Any, error: str | None) -> None:
    waiter = self._Session__method_calls.pop(call_id, None)  # noqa: SLF001 (the pinned version's own fields)
    if waiter is None:
        return
    self._Session__method_call_results[waiter] = (result, error)  # noqa: SLF001
    waiter.set()


def install() -> None:
    Session.handle_invoke_method_results = _deliver_invoke_result
