"""attrbench.atomic.write_atomic: the one atomic write behind the leaderboard files, the
trained-model cache and the recorded durations (it replaced three copies, one of which
left its temporary file behind when a write failed)."""

from __future__ import annotations

import pytest

from attrbench import schedule
from attrbench.atomic import write_atomic


def test_writes_the_content_and_sets_the_mode(tmp_path):
    path = write_atomic(tmp_path / "a.txt", lambda f: f.write(b"new"), mode=0o600)
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"old")

    def half_then_fail(f):
        f.write(b"half")
        raise KeyboardInterrupt  # as Ctrl-C mid-write; BaseException, not only Exception

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_recorded_durations_leave_no_temporary_file_when_the_write_fails(tmp_path, monkeypatch):
    """schedule.record keeps going where the cache cannot be written (an OSError is
    swallowed), and now removes its temporary file too."""
    path = tmp_path / "durations-quick.json"
    schedule.record(path, {"suites/test_x.py::test_a": 1.5})
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    schedule.record(path, {"suites/test_x.py::test_b": 2.0})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
