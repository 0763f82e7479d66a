"""Form pieces shared by the views: key/value rows, a masked secret field kept out of widget state."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

__all__ = ["KeyValueRows", "SecretField"]

_STATIC = pathlib.Path(__file__).parent / "static"


class SecretField(anywidget.AnyWidget):
    """A masked input (for an access token) whose value never becomes widget state.

    The browser sends what is typed as a custom message; the kernel keeps it in a private attribute, hands it out
    once with `take()` (which also clears the browser's field), and never puts it in a trait, a repr or an output.
    A notebook saved with widget state therefore contains only `label`, `placeholder` and `filled`.

    Example::

        token = SecretField(label="token")
        ...
        value = token.take()      # "" if nothing was pasted; the field is empty afterwards
    """

    _esm = _STATIC / "secret.js"
    label = traitlets.Unicode("token").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    filled = traitlets.Bool(False).tag(sync=False)
    """Whether something was pasted (kernel side only)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.__secret = ""
        self.on_msg(self._on_front_end)

    def _on_front_end(self, _widget: object, content: Mapping[str, Any], _buffers: object) -> None:
        if isinstance(content, Mapping) and content.get("t") == "secret":
            value = content.get("v")
            self.__secret = value.strip() if isinstance(value, str) else ""
            self.filled = bool(self.__secret)

    def set_value(self, value: str) -> None:
        """Set the secret from Python (as if pasted)."""
        self.__secret = value
        self.filled = bool(value)

    def take(self) -> str:
        """The secret, once: the kernel's copy and the browser's field are cleared."""
        value, self.__secret = self.__secret, ""
        self.filled = False
        self.send({"t": "clear"})
        return value

    def __repr__(self) -> str:
        return f"<SecretField {self.label!r} {'filled' if self.filled else 'empty'}>"


class KeyValueRows(w.VBox):  # type: ignore[misc]
    """Editable key/value rows with add and delete buttons.

    Example::

        rows = KeyValueRows({"role": "host"})
        rows.items()        # [("role", "host")]
    """

    def __init__(
        self,
        items: Mapping[str, str] | None = None,
        *,
        key_placeholder: str = "key",
        value_placeholder: str = "value",
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._key_placeholder = key_placeholder
        self._value_placeholder = value_placeholder
        self._on_change: Callable[[], None] | None = None
        self.add_button = w.Button(description="+ row", layout={"width": "80px"}, tooltip="add a key/value row")
        self.add_button.on_click(lambda _b: self.add_row())
        self._rows: list[w.HBox] = []
        super().__init__(children=[self.add_button])
        self.add_class("lk-kv-rows")
        self.set_items(items or {})
        self._on_change = on_change

    def _changed(self, *_: object) -> None:
        if self._on_change is not None:
            self._on_change()

    def add_row(self, key: str = "", value: str = "") -> w.HBox:
        k = w.Text(value=key, placeholder=self._key_placeholder, layout={"width": "160px"})
        v = w.Text(value=value, placeholder=self._value_placeholder, layout={"width": "260px"})
        remove = w.Button(description="✕", layout={"width": "36px"}, tooltip="remove this row")
        row = w.HBox([k, v, remove])
        k.observe(self._changed, names="value")
        v.observe(self._changed, names="value")
        remove.on_click(lambda _b: self.remove_row(row))
        self._rows.append(row)
        self.children = [*self._rows, self.add_button]
        self._changed()
        return row

    def remove_row(self, row: w.HBox) -> None:
        if row in self._rows:
            self._rows.remove(row)
            for child in row.children:
                child.close()
            row.close()
            self.children = [*self._rows, self.add_button]
            self._changed()

    def set_items(self, items: Mapping[str, str]) -> None:
        for row in list(self._rows):
            for child in row.children:
                child.close()
            row.close()
        self._rows = []
        on_change, self._on_change = self._on_change, None
        try:
            for key, value in items.items():
                self.add_row(key, value)
        finally:
            self._on_change = on_change
        self.children = [*self._rows, self.add_button]
        self._changed()

    def items(self) -> list[tuple[str, str]]:
        """(key, value) of every row whose key is not blank, in order."""
        out = []
        for row in self._rows:
            key, value = row.children[0].value, row.children[1].value
            if key.strip():
                out.append((key.strip(), value))
        return out

    @property
    def rows(self) -> list[w.HBox]:
        return list(self._rows)
