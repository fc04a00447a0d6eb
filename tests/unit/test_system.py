"""The launcher's processes: the consumers run below the web processes' CPU priority."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from services.system import DEFAULT_WORKER_NICE, Proc, System, worker_nice

# A thread started late reports its own priority, and the session's, then exits.
CHILD = """
import os, threading
from pathlib import Path
def report():
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    group = Path("/proc/self/autogroup")
    print(own, group.read_text().split()[-1] if group.exists() else "none", flush=True)
t = threading.Thread(target=report); t.start(); t.join()
"""


def run(tmp_path: Path, nice: int) -> tuple[int, str]:
    system = System(log_dir=tmp_path)
    proc = Proc(f"probe{nice}", [sys.executable, "-c", CHILD], dict(os.environ), nice=nice)
    system.start_proc(proc)
    assert proc.popen and proc.popen.wait(30) == 0
    assert proc.log_path
    own, group = proc.log_path.read_text().split()
    return int(own), group


def test_a_lowered_process_runs_every_thread_and_its_session_lower(tmp_path: Path) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    own, group = run(tmp_path, 7)
    assert own == min(base + 7, 19)
    if group != "none":  # a kernel with autogroups: the session is lowered too
        assert group == "7"
    plain_own, plain_group = run(tmp_path, 0)
    assert plain_own == base
    assert plain_group in ("none", "0")


def test_only_the_consumers_are_lowered_the_acknowledgement_least(tmp_path: Path) -> None:
    procs = {p.name: p.nice for p in System(log_dir=tmp_path).definitions()}
    assert {n for n, nice in procs.items() if nice} == {
        "intake-worker", "scheduling-worker", "followup-worker", "notify-worker"}
    assert 0 < procs["notify-worker"] < min(procs["intake-worker"],
                                             procs["scheduling-worker"])


def test_worker_nice_is_read_or_refused_clearly() -> None:
    assert worker_nice(" intake = 3 ,notify=0") == {"intake": 3, "notify": 0}
    assert worker_nice("") == {}
    assert set(worker_nice(DEFAULT_WORKER_NICE)) == {"intake", "scheduling", "followup",
                                                    "notify"}
    for bad in ("intake", "intake=-1", "intake=20", "portal=5", "notify=x"):
        with pytest.raises(ValueError, match="WORKER_NICE"):
            worker_nice(bad)
