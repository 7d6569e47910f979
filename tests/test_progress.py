"""Progress bars (issue "Performance", item 5): ``--attrbench-progress`` (used by
``attrbench run --progress`` and ``attrbench verify``) and subject training.

tqdm shows a bar only on a terminal, so these tests hand it a stream that says it is one.
The last test covers how pytest-xdist workers share the cores (item 3).
"""

from __future__ import annotations

import io
import sys
from types import SimpleNamespace

from attrbench.cli import build_parser
from attrbench.pytest_plugin import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Outcome:
    """pluggy's hookwrapper outcome, reduced to what Progress uses."""

    def __init__(self, result):
        self.result = result

    def get_result(self):
        return self.result

    def force_result(self, result):
        self.result = result


def status_after(progress: Progress, status: tuple) -> tuple:
    """What Progress's hookwrapper makes of the status pytest's own hook returned."""
    hook = progress.pytest_report_teststatus(None, None)
    next(hook)
    outcome = Outcome(status)
    try:
        hook.send(outcome)
    except StopIteration:
        pass
    return outcome.result


def test_bar_counts_finished_tests_and_replaces_pytests_letters(monkeypatch):
    """The bar's total is the number of collected tests; each test's teardown report
    advances it by one; while it shows, the letter pytest would print is blanked and the
    category and word (which the summary counts) are kept."""
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    progress = Progress()
    progress.pytest_collection_finish(SimpleNamespace(items=[object()] * 3))
    for _ in range(3):
        for when in ("setup", "call", "teardown"):
            progress.pytest_runtest_logreport(SimpleNamespace(when=when))
    assert status_after(progress, ("passed", ".", "PASSED")) == ("passed", "", "PASSED")
    progress.pytest_sessionfinish()
    text = stream.getvalue()
    assert "attrbench:   0%" in text and "3/3" in text  # updates closer than 0.1 s apart are merged


def test_off_a_terminal_the_bar_hides_and_letters_stay(monkeypatch):
    """On a pipe or file (CI logs) tqdm disables itself and pytest's letters are kept."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    progress = Progress()
    progress.pytest_collection_finish(SimpleNamespace(items=[object()]))
    assert status_after(progress, ("passed", ".", "PASSED")) == ("passed", ".", "PASSED")
    progress.pytest_sessionfinish()


def test_run_progress_flag_reaches_pytest():
    """``attrbench run --progress`` passes ``--attrbench-progress`` to pytest."""
    args = build_parser().parse_args(["run", "--progress"])
    assert args.progress is True


def test_training_shows_an_epoch_bar(monkeypatch):
    """subjects.training.fit counts its epochs on a tqdm bar (on stderr, on a terminal)."""
    import torch

    from attrbench.subjects import training

    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    recipe = training.Recipe(data="random", input_shape=(64,), classes=10, activation="relu", dense=(4,), epochs=3)
    training.fit(recipe, torch.rand(8, 64), torch.arange(8) % 10, "tiny")
    assert "training tiny:   0%" in stream.getvalue() and "/3 " in stream.getvalue()


def test_every_process_gets_one_torch_thread_whatever_the_cores(monkeypatch):
    """pytest_plugin.pin_threads: one torch intra-op thread in every process that runs
    suite tests, on 8 cores as on 64 (so serial and ``-n N`` runs use the same count), and
    the count OMP_NUM_THREADS set where it is set."""
    import os

    import torch

    from attrbench.pytest_plugin import pin_threads

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        for cores in (8, 64):
            monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
            torch.set_num_threads(2)
            assert pin_threads() == 1 and torch.get_num_threads() == 1
        torch.set_num_threads(3)
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert pin_threads() == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
