"""The Flet corrections the handheld installs: an answer for a removed control reaches its waiter, and
an event's payload type is worked out once per control class and event."""

from __future__ import annotations

import asyncio

import flet as ft
from flet.controls import base_control, control_event
from flet.messaging.session import Session

from app import flet_shims


def installed(monkeypatch) -> None:
    """The corrections, for one test only: what they replace is put back afterwards."""
    monkeypatch.setattr(Session, "handle_invoke_method_results", Session.handle_invoke_method_results)
    monkeypatch.setattr(base_control, "get_event_field_type", base_control.get_event_field_type)
    flet_shims.install()


def test_an_answer_for_a_control_removed_meanwhile_is_delivered_not_raised(monkeypatch):
    installed(monkeypatch)
    session = Session.__new__(Session)  # only the two fields the answer touches
    waiter = asyncio.Event()
    session._Session__method_calls = {"call-1": waiter}
    session._Session__method_call_results = {}
    session._Session__index = {}  # the control is no longer on the page
    session.handle_invoke_method_results(4242, "call-1", "done", None)
    assert waiter.is_set() and session._Session__method_call_results[waiter] == ("done", None)
    session.handle_invoke_method_results(4242, "call-unknown", None, None)  # nobody waits: nothing happens


def test_an_events_payload_type_is_the_one_flet_works_out_and_is_worked_out_once(monkeypatch):
    resolve = control_event.get_event_field_type  # Flet's own
    calls = []
    monkeypatch.setattr(flet_shims, "_resolve_event_type", lambda control, name: calls.append(name) or resolve(
        control, name))
    monkeypatch.setattr(flet_shims, "_event_types", {})
    installed(monkeypatch)
    field = ft.TextField()
    assert base_control.get_event_field_type(field, "on_change") is resolve(field, "on_change")
    assert base_control.get_event_field_type(ft.TextField(), "on_change") is resolve(field, "on_change")
    assert base_control.get_event_field_type(field, "on_submit") is resolve(field, "on_submit")
    assert calls == ["on_change", "on_submit"]  # once per class and event
