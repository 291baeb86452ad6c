"""The Flet corrections the handheld installs: an answer for a removed control reaches its waiter; an
event's payload type, its class's type hints and its handler's parameter count are worked out once,
and come out as Flet's own."""

from __future__ import annotations

import asyncio
import functools
import importlib

import flet as ft
from flet.controls import base_control, control_event
from flet.messaging.session import Session
from flet.utils.object_model import get_param_count
from flet_web.fastapi import flet_app

from app import flet_shims


FROM_DICT = importlib.import_module("flet.utils.from_dict")


def installed(monkeypatch) -> None:
    """The corrections, for one test only: what they replace is put back afterwards."""
    monkeypatch.setattr(Session, "handle_invoke_method_results", Session.handle_invoke_method_results)
    monkeypatch.setattr(base_control, "get_event_field_type", base_control.get_event_field_type)
    monkeypatch.setattr(base_control, "get_param_count", base_control.get_param_count)
    monkeypatch.setattr(FROM_DICT, "get_type_hints", FROM_DICT.get_type_hints)
    monkeypatch.setattr(flet_app.FletApp, "send_message", flet_app.FletApp.send_message)
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


def test_a_handlers_parameter_count_is_flets_own_and_worked_out_once_per_code(monkeypatch):
    calls = []
    monkeypatch.setattr(flet_shims, "_count_params", lambda handler: calls.append(handler) or get_param_count(handler))
    monkeypatch.setattr(flet_shims, "_param_counts", {})
    installed(monkeypatch)

    class Screen:
        async def tapped(self, event): ...

    def handler(with_event: bool):  # a new closure per render, as a component makes them
        return (lambda event: event) if with_event else (lambda: None)

    def wrapper(event, extra): ...

    wrapped = functools.wraps(lambda: None)(wrapper)  # its signature is the wrapped one's
    partial = functools.partial(lambda a, b: None, 1)
    count = base_control.get_param_count
    assert [count(Screen().tapped), count(Screen().tapped), count(Screen.tapped)] == [1, 1, 2]
    assert [count(handler(True)), count(handler(True)), count(handler(False))] == [1, 1, 0]
    assert [count(wrapped), count(wrapped), count(partial)] == [get_param_count(wrapped), get_param_count(wrapped), 1]
    # Once per code and binding (a method bound and not, two lambdas); each time for a wrapper or a partial.
    assert len(calls) == 2 + 2 + 3


def test_an_events_class_type_hints_are_worked_out_once_and_build_the_same_event(monkeypatch):
    monkeypatch.setattr(flet_shims, "_type_hints", {})
    payload = {"name": "keyboard_event", "data": None, "control": None, "key": "A", "shift": True, "ctrl": False, "alt": False,
               "meta": False}
    flets_own = FROM_DICT.from_dict(ft.KeyboardEvent, payload)
    installed(monkeypatch)
    assert FROM_DICT.from_dict(ft.KeyboardEvent, payload) == flets_own
    assert FROM_DICT.from_dict(ft.KeyboardEvent, {**payload, "key": "B"}).key == "B"
    assert list(flet_shims._type_hints) == [ft.KeyboardEvent]
