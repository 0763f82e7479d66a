"""`lk-notebook`: run a local LiveKit server, install it, open the tutorials, or measure delivery.

lk-notebook server [--json] [--relay]   a local server until Ctrl-C / SIGTERM; prints LIVEKIT_* exports
lk-notebook server --nodes 2 [--json]   a local cluster (Redis + 2 nodes) until Ctrl-C / SIGTERM
--json [-] in every command: JSON to stdout ('-', the default); `bench --json FILE` writes a file instead
lk-notebook install-server              install the pinned livekit-server and print its path
lk-notebook lab [--no-browser] [...]    local server + JupyterLab on notebooks/, server stopped on exit
lk-notebook bench ...                   the delivery lab from the terminal (see `lk-notebook bench -h`)
lk-notebook record ROOM --out FILE      record a room (hidden) until Ctrl-C / SIGTERM / --duration
lk-notebook recording FILE              what a recording holds, as one JSON line
lk-notebook site [--out DIR] [--executed DIR]   the tutorials as a website, executed (needs the docs extra)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from . import __version__
from .cluster import LocalCluster
from .errors import LkNotebookError
from .install import SERVER_VERSION, find_server, install_server
from .process import spawn
from .quiet_lab import QUIET_LAB_ARGS, quiet_lab_env
from .server import LocalServer

__all__ = ["main"]


def _print_err(message: str) -> None:
    print(f"lk-notebook: {message}", file=sys.stderr, flush=True)


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (installed before the server starts, so an early signal is not lost)."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _json_target_error(target: str | None) -> str | None:
    """`--json` means one thing in every command: its value is where the JSON goes, '-' (or no value) stdout.
    The server's line holds its API secret, which the toolkit never writes to a file: only '-' is accepted."""
    if target is None or target == "-":
        return None
    return (
        f"server --json writes its line (with the API secret) to stdout only: use `--json` or `--json -` and "
        f"redirect it yourself (got --json {target!r}; the toolkit never writes secrets to files)"
    )


def cmd_server(args: argparse.Namespace) -> int:
    refused = _json_target_error(args.json)
    if refused is not None:
        _print_err(refused)
        return 2
    if args.nodes is not None:
        return _cmd_cluster(args)
    stop = _stop_on_signals()
    progress = (lambda m: print(m, file=sys.stderr, flush=True)) if not args.json else (lambda m: None)
    server = LocalServer(port=args.port, relay=args.relay, progress=progress).start()
    try:
        if args.json:
            # One line, as soon as the server is ready: meant for scripts (`read` it, then use it).
            line = {"url": server.url, "api_key": server.api_key, "api_secret": server.api_secret}
            print(json.dumps(line), flush=True)
        else:
            for key, value in server.env().items():
                print(f"export {key}={shlex.quote(value)}", flush=True)
            print(f"# livekit-server {SERVER_VERSION} on {server.url}; log: {server.log_path}", flush=True)
            print("# Ctrl-C stops it.", flush=True)
        while not stop.wait(0.5):
            server.check_alive()
    finally:
        server.stop()
    return 0


def _cmd_cluster(args: argparse.Namespace) -> int:
    if args.relay or args.port is not None:
        _print_err("--nodes takes neither --relay nor --port (every node gets free ports of its own)")
        return 2
    if args.nodes < 1:
        _print_err("--nodes must be at least 1")
        return 2
    stop = _stop_on_signals()
    progress = (lambda m: print(m, file=sys.stderr, flush=True)) if not args.json else (lambda m: None)
    cluster = LocalCluster(args.nodes, progress=progress).start()
    try:
        if args.json:
            # One line once every node answers: the first node's URL, all of them, and the shared credentials.
            line = {
                "url": cluster.url,
                "urls": cluster.urls,
                "api_key": cluster.api_key,
                "api_secret": cluster.api_secret,
            }
            print(json.dumps(line), flush=True)
        else:
            for key, value in cluster.env().items():
                print(f"export {key}={shlex.quote(value)}", flush=True)
            for i, (url, node_id) in enumerate(zip(cluster.urls, cluster.node_ids, strict=True)):
                print(f"# node {i + 1}: {url} ({node_id})", flush=True)
            print(f"# livekit-server {SERVER_VERSION} x {args.nodes} on Redis; Ctrl-C stops them.", flush=True)
        while not stop.wait(0.5):
            for node in cluster.nodes:
                node.check_alive()
    finally:
        cluster.stop()
    return 0


def cmd_install_server(args: argparse.Namespace) -> int:
    path = find_server() if not args.force else None
    if path is None:
        path = install_server(method=args.method, progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(path)
    return 0


def _notebooks_dir() -> Path:
    """notebooks/ of the checkout this package runs from (or the current directory's)."""
    here = Path(__file__).resolve().parent.parent / "notebooks"
    return here if here.is_dir() else Path.cwd() / "notebooks"


#: JupyterLab options that keep a tutorial session quiet and offline: no "receive Jupyter news?" prompt and no news
#: feed fetch (news_url must be None, not "": only None disables the prompt), and no update check against PyPI.
#: Given before the user's own arguments, so those still win.
QUIET_LAB = QUIET_LAB_ARGS  # the old name


def cmd_lab(args: argparse.Namespace) -> int:
    notebooks = Path(args.notebooks) if args.notebooks else _notebooks_dir()
    if not notebooks.is_dir():
        _print_err(f"no notebooks folder at {notebooks}; pass --notebooks DIR")
        return 2
    env = dict(os.environ)
    server: LocalServer | None = None
    # Signal handlers first, so an early Ctrl-C still stops the server and JupyterLab.
    if not env.get("LIVEKIT_URL"):
        server = LocalServer(progress=lambda m: print(m, file=sys.stderr, flush=True)).start()
        env.update(server.env())
        print(f"lk-notebook: local livekit-server {SERVER_VERSION} on {server.url}", file=sys.stderr, flush=True)
    else:
        print(f"lk-notebook: using LIVEKIT_URL={env['LIVEKIT_URL']}", file=sys.stderr, flush=True)
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={notebooks}", f"--port={args.port}", *QUIET_LAB]
    if args.no_browser:
        cmd.append("--no-browser")
    if args.ip:
        cmd.append(f"--ip={args.ip}")
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    extra = list(args.jupyter_args)
    cmd.extend(extra[1:] if extra[:1] == ["--"] else extra)
    stop = _stop_on_signals()
    config_dir = tempfile.TemporaryDirectory(prefix="lk-notebook-lab-")
    # With the parent-death signal, so a SIGKILLed lk-notebook (no finally, no atexit) leaves no JupyterLab behind.
    # SIGTERM, not the servers' SIGKILL: JupyterLab then shuts its kernels down. In a session of its own, so a
    # Ctrl-C reaches only lk-notebook, which stops JupyterLab with SIGTERM (on SIGINT it would ask "Shutdown?").
    proc = spawn(
        cmd,
        env=quiet_lab_env(Path(config_dir.name), env),  # no news prompt: see quiet_lab
        stdout=None,
        stderr=None,
        death_signal=signal.SIGTERM,
    )
    try:
        while True:
            try:
                return proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            if stop.is_set():
                # SIGTERM, not SIGINT: on SIGINT JupyterLab asks "Shutdown this Jupyter server (y/[n])?".
                proc.terminate()
                return proc.wait(timeout=30)
            if server is not None:
                server.check_alive()
    finally:
        if proc.poll() is None:
            proc.kill()
        config_dir.cleanup()
        if server is not None:
            server.stop()


def cmd_record(args: argparse.Namespace) -> int:
    from .recording.cli import run_record

    return run_record(args)


def cmd_recording(args: argparse.Namespace) -> int:
    from .recording.cli import run_summary

    return run_summary(args)


def cmd_site(args: argparse.Namespace) -> int:
    from .site import run_site

    return run_site(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lk-notebook", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"lk_notebook {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("server", help="run a local livekit-server until Ctrl-C")
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="print one JSON line {url, api_key, api_secret} when ready ('-' or no value: stdout, as bench --json -)",
    )
    p.add_argument("--port", type=int, default=None, help="HTTP/WebSocket port (default: a free one)")
    p.add_argument("--relay", action="store_true", help="relay layout for the lab's impairment relay")
    p.add_argument(
        "--nodes", type=int, default=None, help="a local cluster: Redis + N nodes (--json adds `urls`, all nodes)"
    )
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("install-server", help=f"install livekit-server {SERVER_VERSION} and print its path")
    p.add_argument("--method", choices=["auto", "go", "archive"], default="auto")
    p.add_argument("--force", action="store_true", help="install into the cache even if one is found elsewhere")
    p.set_defaults(func=cmd_install_server)

    p = sub.add_parser("lab", help="local server + JupyterLab on the tutorial notebooks")
    p.add_argument("--notebooks", default=None, help="folder to open (default: the checkout's notebooks/)")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--ip", default=None)
    p.add_argument("--no-browser", action="store_true")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to `jupyter lab`")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("record", help="record a room into one file (a hidden inspector)")
    p.add_argument("room")
    p.add_argument("--out", required=True, help="the recording to create (must not exist)")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: until a signal)")
    p.add_argument("--webhook-port", type=int, default=None, help="receive the server's webhooks on this port")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between list_participants snapshots")
    p.add_argument("--keep-stream-bytes", action="store_true", help="keep byte streams' bytes, not only sha256")
    p.add_argument("--max-bytes", type=int, default=None, help="stop (exit 1) when the file would grow past this")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("recording", help="summarise a recording (one JSON line), or say why it cannot be read")
    p.add_argument("file")
    p.set_defaults(func=cmd_recording)

    from .site import add_site_arguments

    p = sub.add_parser("site", help="build the tutorials' website: executed notebooks, outputs and plots")
    add_site_arguments(p)
    p.set_defaults(func=cmd_site)

    try:
        from .lab.cli import add_bench_arguments, run_bench
    except ImportError:  # the lab is optional at import time only while it is being built
        pass
    else:
        p = sub.add_parser("bench", help="measure data-message delivery by mode (the delivery lab)")
        add_bench_arguments(p)
        p.set_defaults(func=run_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except LkNotebookError as exc:
        _print_err(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
