"""Every widget has a plain-text fallback: the `text/plain` of its display bundle says what the view shows.

VS Code loses widget views when a notebook is reloaded; nbconvert, GitHub and terminals never draw them. All of them
show `text/plain`, which ipywidgets fills with a truncated trait repr. Here each view, displayed through IPython's
own formatter (what the kernel sends), must name the room, the identity and the connection, list a peer that
another real client brought in, and contain no secret or token.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from IPython.core.formatters import DisplayFormatter

import lk_notebook as lk
import lk_notebook.widgets as views
from lk_notebook.config import Credentials
from lk_notebook.widgets._text import TextFallback
from lk_notebook.widgets.lab import LabWidget

from .conftest import eventually

pytestmark = pytest.mark.server


def _plain(obj: object) -> str:
    data, _meta = DisplayFormatter().format(obj)
    text = data.get("text/plain", "")
    assert isinstance(text, str)
    return text


def test_every_exported_widget_class_has_a_text_fallback() -> None:
    classes = [getattr(views, n) for n in views.__all__ if inspect.isclass(getattr(views, n))]
    assert len(classes) >= 11
    missing = [c.__name__ for c in classes if not issubclass(c, TextFallback)]
    assert not missing, f"widgets without a text fallback: {missing}"


async def test_text_fallbacks_describe_the_room(room_name: str, credentials: Credentials) -> None:
    me = await lk.join(room_name, identity="text-me", attributes={"role": "host"})
    peer = await lk.join(room_name, identity="text-peer", name="Peer", attributes={"color": "red"})
    await peer.publish("hello in text", topic="chat")
    await eventually(lambda: "text-peer" in me.state and len(me.inbox) > 0, timeout=10, what="peer and message")
    made: dict[str, Any] = {
        "Dashboard": views.Dashboard(me),
        "RoomPanel": views.RoomPanel(me),
        "ParticipantsTable": views.ParticipantsTable(me),
        "Composer": views.Composer(me),
        "MessageLog": views.MessageLog(me),
        "StateEditor": views.StateEditor(me),
        "RoomMetadataView": views.RoomMetadataView(me),
    }
    try:
        for name, widget in made.items():
            text = _plain(widget)
            assert text == repr(widget), name
            assert room_name in text and "connected" in text, (name, text)
            if name != "ParticipantsTable":
                assert "text-me" in text, (name, text)
            assert credentials.api_secret not in text and "eyJ" not in text, (name, text)
        for name in ("Dashboard", "ParticipantsTable"):
            text = _plain(made[name])
            assert "text-peer 'Peer': color=red" in text and "text-me (you)" in text, text
        await eventually(lambda: "hello in text" in _plain(made["MessageLog"]), timeout=5, what="message in text")
        logs = views.LogView()
        made["LogView"] = logs  # closed below: an open LogView keeps the SDK's loggers from propagating
        assert "LogView" in _plain(logs)
        tracks = views.DataTracksView(me)
        made["DataTracksView"] = tracks
        assert f"room {room_name!r}" in _plain(tracks) and "0 data track(s)" in _plain(tracks), _plain(tracks)
        observer = views.ObserverView(lk.observe(room_name, interval=0.2))
        made["ObserverView"] = observer
        await eventually(lambda: "text-peer 'Peer': color=red" in _plain(observer), timeout=10, what="observer text")
        assert "server API only" in _plain(observer)
        browser = views.RoomBrowser(interval=0.2)
        made["RoomBrowser"] = browser
        await eventually(lambda: f"  {room_name}: 2 participant(s)" in _plain(browser), timeout=10, what="rooms")
        for name in ("DataTracksView", "ObserverView", "RoomBrowser"):
            assert credentials.api_secret not in _plain(made[name]) and "eyJ" not in _plain(made[name]), name
        lab = LabWidget()
        assert _plain(lab).startswith("LabWidget (idle): 0 run(s) measured"), _plain(lab)
        assert "application/vnd.jupyter.widget-view+json" in DisplayFormatter().format(lab)[0]  # still a widget
    finally:
        for widget in made.values():
            widget.close()
        await peer.leave()
        await me.leave()
