"""Pure pieces of the stream and RPC views: the same action as code, and the HTML of the stream and RPC tables."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence

from ..events import RpcRecord, StreamRecord, StreamState

__all__ = ["CLIP_STYLE", "rpc_rows_html", "rpc_snippets", "stream_rows_html", "stream_snippets"]

NO_CLI = (
    "# no lk CLI equivalent: lk_notebook knows of no `lk` command that sends streams or makes RPC calls\n"
    "# (check `lk room --help` for your version)"
)


def _py_list(items: Sequence[str]) -> str:
    return repr(list(items))


def stream_snippets(
    *, text: str | None, name: str, topic: str, destinations: Sequence[str], size: int
) -> dict[str, str]:
    """A text stream (`text` given) or a byte stream (a file `name` of `size` bytes) as code."""
    nb_args = [repr(text) if text is not None else f"open({name!r}, 'rb').read()", f"topic={topic!r}"]
    py_args = list(nb_args)
    js_opts = [f"topic: {json.dumps(topic)}"]
    if destinations:
        nb_args.append(f"destinations={_py_list(destinations)}")
        py_args.append(f"destination_identities={_py_list(destinations)}")
        js_opts.append(f"destinationIdentities: {json.dumps(list(destinations))}")
    if text is not None:
        return {
            "lk_notebook": f"await session.send_text({', '.join(nb_args)})",
            "Python": f"await room.local_participant.send_text({', '.join(py_args)})",
            "JavaScript": f"await room.localParticipant.sendText({json.dumps(text)}, {{ {', '.join(js_opts)} }});",
            "lk CLI": NO_CLI,
        }
    nb_args.append(f"name={name!r}")
    py_args.append(f"name={name!r}")
    return {
        "lk_notebook": f"await session.send_bytes({', '.join(nb_args)})  # or session.send_file({name!r}, ...)",
        "Python": f"await room.local_participant.send_file({name!r}, {', '.join(py_args[1:-1])})",
        "JavaScript": (
            f"// file: a File from an <input type=file> ({size:,} bytes)\n"
            f"await room.localParticipant.sendFile(file, {{ {', '.join(js_opts)} }});"
        ),
        "lk CLI": NO_CLI,
    }


def rpc_snippets(*, destination: str, method: str, payload: str, timeout: float) -> dict[str, str]:
    """An RPC call as code."""
    return {
        "lk_notebook": (
            f"result = await session.perform_rpc({destination!r}, {method!r}, {payload!r}, timeout={timeout:g})\n"
            "result.response, result.latency"
        ),
        "Python": (
            f"await room.local_participant.perform_rpc(\n    destination_identity={destination!r}, method={method!r}, "
            f"payload={payload!r}, response_timeout={timeout:g}\n)"
        ),
        "JavaScript": (
            f"await room.localParticipant.performRpc({{ destinationIdentity: {json.dumps(destination)}, method: "
            f"{json.dumps(method)}, payload: {json.dumps(payload)}, responseTimeout: {int(timeout * 1000)} }});"
        ),
        "lk CLI": NO_CLI,
    }


def code_html(snippets: dict[str, str]) -> str:
    return "".join(
        f'<div class="lk-code" data-lang="{html.escape(lang)}"><b>{html.escape(lang)}</b>'
        f'<pre style="user-select:all;background:#f6f8fa;padding:4px;margin:2px 0 8px 0">'
        f"{html.escape(code)}</pre></div>"
        for lang, code in snippets.items()
    )


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


def _bar(fraction: float | None, state: StreamState) -> str:
    if fraction is None:
        return html.escape(state.value)
    colour = {"started": "#1976d2", "finished": "#2e7d32", "aborted": "#b00020"}[state.value]
    pct = int(fraction * 100)
    return (
        f'<div style="width:90px;background:#eee;display:inline-block;vertical-align:middle">'
        f'<div style="width:{pct}%;background:{colour};height:8px"></div></div> {pct}%'
    )


# One line per row: a long text or payload is clipped with an ellipsis (whole in the title / the record), so the
# numbers to its right stay in view instead of the row wrapping over four lines.
_TABLE = "font-size:12px;white-space:nowrap"
CLIP_STYLE = "display:inline-block;max-width:260px;overflow:hidden;text-overflow:ellipsis;vertical-align:bottom"


def stream_rows_html(records: Sequence[StreamRecord]) -> str:
    """Newest first: time, from/to, topic, kind, name, progress bar, bytes, goodput, state."""
    rows = []
    for r in records:
        who = f"→ {', '.join(r.destinations) or 'room'}" if r.sent else r.sender
        what = (r.text or "")[:60] if r.is_text else r.name
        rows.append(
            f'<tr class="lk-stream lk-stream-{r.state.value}" data-stream-id="{html.escape(r.stream_id)}">'
            f"<td>{_clock(r.started_at)}</td><td>{html.escape(who)}</td><td>{html.escape(r.topic)}</td>"
            f"<td>{'text' if r.is_text else 'bytes'}</td>"
            f'<td title="{html.escape(what)}"><span style="{CLIP_STYLE}"><code>{html.escape(what)}</code></span></td>'
            f"<td>{_bar(r.progress, r.state)}</td><td style='text-align:right'>{r.received:,}</td>"
            f"<td style='text-align:right'>{r.goodput / 1e6:.2f} MB/s</td><td>{r.state.value}</td></tr>"
        )
    head = (
        "<tr><th>time</th><th>from</th><th>topic</th><th>kind</th><th>text / name</th><th>progress</th>"
        "<th>bytes</th><th>goodput</th><th>state</th></tr>"
    )
    return f'<table class="lk-streams" style="{_TABLE}"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def rpc_rows_html(records: Sequence[RpcRecord]) -> str:
    """Newest first: one row per call, request and response (or error code) side by side, with the latency."""
    rows = []
    for r in records:
        if r.pending:
            answer = '<span style="color:#1976d2">waiting…</span>'
        elif r.error_code is not None or r.error:
            answer = f'<span style="color:#b00020">error {r.error_code or ""} {html.escape(r.error[:80])}</span>'
        else:
            answer = f"<code>{html.escape((r.response or '')[:80])}</code>"
        latency = "" if r.latency is None else f"{r.latency * 1000:.1f} ms"
        rows.append(
            f'<tr class="lk-rpc {"lk-rpc-out" if r.outgoing else "lk-rpc-in"}"><td>{_clock(r.started_at)}</td>'
            f"<td>{html.escape(r.caller)} → {html.escape(r.callee)}</td><td>{html.escape(r.method)}</td>"
            f'<td><span style="{CLIP_STYLE}"><code>{html.escape(r.payload[:80])}</code></span></td>'
            f'<td><span style="{CLIP_STYLE}">{answer}</span></td>'
            f"<td style='text-align:right'>{latency}</td></tr>"
        )
    head = "<tr><th>time</th><th>call</th><th>method</th><th>request</th><th>response</th><th>latency</th></tr>"
    return f'<table class="lk-rpcs" style="{_TABLE}"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
