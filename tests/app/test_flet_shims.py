"""The Flet correction the handheld installs: an answer for a removed control reaches its waiter."""

from __future__ import annotations

import asyncio

from flet.messaging.session import Session

from app import flet_shims


def test_an_answer_for_a_control_removed_meanwhile_is_delivered_not_raised(monkeypatch):
    monkeypatch.setattr(Session, "handle_invoke_method_results", Session.handle_invoke_method_results)
    flet_shims.install()
    session = Session.__new__(Session)  # only the two fields the answer touches
    waiter = asyncio.Event()
    session._Session__method_calls = {"call-1": waiter}
    session._Session__method_call_results = {}
    session._Session__index = {}  # the control is no longer on the page
    session.handle_invoke_method_results(4242, "call-1", "done", None)
    assert waiter.is_set() and session._Session__method_call_results[waiter] == ("done", None)
    session.handle_invoke_method_results(4242, "call-unknown", None, None)  # nobody waits: nothing happens
