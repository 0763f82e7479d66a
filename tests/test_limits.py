"""The input checks of `lk_notebook.limits` alone (pure: no server). Written to kill what mutation testing
(bench/mutation.py) found surviving: the server tests reach these checks, the fast unit tests did not."""

from __future__ import annotations

from pathlib import Path

import pytest

from lk_notebook import limits
from lk_notebook.errors import InvalidInputError, MissingFileError, TooLargeError


def test_the_limits_are_livekits() -> None:
    # livekit-server v1.13.5: limit.max_attributes_size 64 KiB, limit.max_metadata_size 512 KiB; docs: RPC 15 KiB
    assert limits.MAX_ATTRIBUTES_BYTES == 65_536 and limits.MAX_METADATA_BYTES == 524_288
    assert limits.RPC_MAX_PAYLOAD_BYTES == limits.RELIABLE_ADVISED_BYTES == 15_360
    assert (limits.SDK_MAX_PACKET_BYTES, limits.LOSSY_ADVISED_BYTES) == (64_000, 1300)


def test_attributes_metadata_and_stream_checks() -> None:
    with pytest.raises(InvalidInputError, match="attributes must be a dict of str to str, not str"):
        limits.check_attributes({}, "role=host")
    assert limits.check_attributes({}, {"role": "host"}) == {"role": "host"}
    for bad in ({"": "x"}, {1: "x"}):
        with pytest.raises(InvalidInputError):
            limits.check_attributes({}, bad)
    with pytest.raises(InvalidInputError):
        limits.check_metadata(5)
    assert limits.check_metadata("x" * 10, limit=10) == "x" * 10
    with pytest.raises(TooLargeError):
        limits.check_metadata("x" * 11, limit=10)
    assert limits.check_stream("t", None) == {} and limits.check_stream("t", {"a": "b"}) == {"a": "b"}
    with pytest.raises(InvalidInputError, match="topic must be a string, not int"):
        limits.check_stream(1, None)


def test_rpc_checks() -> None:
    assert limits.check_rpc("bob", "echo", "x" * 10, limit=10) == "x" * 10
    with pytest.raises(TooLargeError):
        limits.check_rpc("bob", "echo", "x" * 11, limit=10)
    for destination in ("", None, 3):
        with pytest.raises(InvalidInputError, match="RPC destination"):
            limits.check_rpc(destination, "echo", "x")
    for method in ("", None):
        with pytest.raises(InvalidInputError, match="RPC method"):
            limits.check_rpc("bob", method, "x")
    with pytest.raises(InvalidInputError, match=r"json\.dumps"):
        limits.check_rpc("bob", "echo", {"a": 1})


def test_file_checks(tmp_path: Path) -> None:
    f = tmp_path / "report.txt"
    f.write_text("hi")
    assert limits.check_file(str(f)) == f and limits.check_file(f) == f
    with pytest.raises(MissingFileError, match="is a directory"):
        limits.check_file(tmp_path)
    with pytest.raises(MissingFileError, match="does not exist"):
        limits.check_file(tmp_path / "nope")
    with pytest.raises(InvalidInputError, match="a file path must be a str or Path, not int"):
        limits.check_file(3)
