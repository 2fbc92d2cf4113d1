"""The thread governor: one torch thread per core that *other* processes leave free, re-checked while facekit works,
so load that appears in the middle of training costs a thread instead of collapsing two spin-waiting ones."""
import time

import pytest
import torch

from facekit_tools.bench.probes import busy_processes
from facekit.runtime import ThreadGovernor, adapt_threads, set_threads, thread_governor


class FakeMachine:
    """A 2-core machine whose other processes keep ``others`` cores busy while this one uses ``own`` cores."""

    def __init__(self):
        self.t, self.busy, self.total, self.cpu = 0.0, 0.0, 0.0, 0.0
        self.others, self.own = 0.0, 0.0

    def advance(self, seconds: float):
        self.t += seconds
        self.busy += (self.others + self.own) * seconds
        self.total += 2 * seconds
        self.cpu += self.own * seconds

    def governor(self, interval_s=1.0):
        return ThreadGovernor(cores=2, interval_s=interval_s, read=lambda: (self.busy, self.total),
                              clock=lambda: self.t, own=lambda: self.cpu)


def test_others_load_costs_a_thread_and_gives_it_back(threads_restored, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    m = FakeMachine()
    gov = m.governor()
    torch.set_num_threads(2)
    m.own = 2.0                     # our two threads (spinning ones included) are never "others"
    m.advance(1.5)
    assert gov.update() == 2
    m.others = 0.6                  # a browser tab starts playing a video
    m.advance(0.5)
    assert gov.update() == 2, "no re-check before interval_s has passed"
    m.advance(0.6)
    assert gov.update() == 1 and torch.get_num_threads() == 1
    m.others, m.own = 0.35, 1.0     # between the two margins: no flapping
    m.advance(1.2)
    assert gov.update() == 1
    m.others = 0.1                  # it stopped
    m.advance(1.2)
    assert gov.update() == 2 and torch.get_num_threads() == 2
    assert [(others, n) for _, others, n in gov.history] == [(pytest.approx(0.6), 1), (pytest.approx(0.1), 2)]


def test_margins_against_flapping():
    from facekit.runtime import _threads_for

    assert _threads_for(2 - 0.39, 2, current=2) == 2 and _threads_for(2 - 0.41, 2, current=2) == 1
    assert _threads_for(2 - 0.3, 2, current=1) == 1 and _threads_for(2 - 0.2, 2, current=1) == 2
    assert _threads_for(8 - 3.0, 8, current=8) == 5 and _threads_for(8 - 0.0, 8, current=5) == 8
    assert _threads_for(-1.0, 2, current=2) == 1, "never below one thread"


def test_a_fixed_thread_count_is_never_changed(threads_restored, monkeypatch):
    assert set_threads(1) == 1 and thread_governor() is None
    assert adapt_threads() == 1
    monkeypatch.setenv("FACEKIT_THREADS", "1")
    assert set_threads() == 1 and thread_governor() is None, "$FACEKIT_THREADS fixes the count"
    monkeypatch.setenv("FACEKIT_THREADS", "auto")
    set_threads()
    assert thread_governor() is not None, "auto = facekit's policy, which follows the load"


def test_a_real_busy_process_is_seen_as_others_load(threads_restored):
    """Against the real /proc/stat: a `while True: pass` child is another process's load, this idle one is not."""
    gov = ThreadGovernor(cores=2, interval_s=0.0)
    if gov._read() is None:
        pytest.skip("no /proc/stat on this system: the governor is off here (thread_policy says so)")
    torch.set_num_threads(2)
    with busy_processes(1, settle_s=0.2):
        gov.others_busy()          # start the interval with the child running
        time.sleep(1.0)
        others = gov.others_busy()
        assert others >= 0.7, f"one busy child measured as {others:.2f} cores of other load"
        time.sleep(0.5)
        assert gov.update() == 1 and torch.get_num_threads() == 1
