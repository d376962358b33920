"""OpenMP on a busy machine: idle worker threads sleep instead of spinning.

torch's CPU kernels run on OpenMP (libgomp). By default an OpenMP worker spins after each parallel
region, waiting for the next one. On a machine already busier than its cores (a shared classroom
server, or this project's development machine with several jobs on 2 cores) a spinning thread
burns the time slices its partner needs, and every parallel region waits for a descheduled
thread: measured here, a toy MCD training step went from ~40 ms to 1-3 s with 2 threads
(BENCHMARKS.md, "Speed"). ``OMP_WAIT_POLICY=PASSIVE`` makes idle workers sleep; on a quiet
machine that costs some speed instead (waking a thread for every parallel region: a classroom
MCD step 131 -> 176 ms with 2 threads), so it is only chosen when the machine is busy.

:func:`calm_openmp_when_busy` runs when ``mcdlib`` is imported: if ``OMP_WAIT_POLICY`` is unset,
torch is not imported yet (libgomp reads the variable when it loads) and the 1-minute load
average is at least the number of CPUs, it sets ``OMP_WAIT_POLICY=PASSIVE`` for this process and
its children (notebook kernels started by ``mcd notebooks run``). Set ``OMP_WAIT_POLICY``
yourself (``ACTIVE`` or ``PASSIVE``) to decide; results do not depend on it, only speed does.
"""

from __future__ import annotations

import os
import sys


def calm_openmp_when_busy(environ=None, modules=None, loadavg=None, cpus: int | None = None) -> str | None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` when the machine is busy (see module doc); returns what was set.

    The arguments default to this process's ``os.environ``, ``sys.modules``, ``os.getloadavg`` and
    CPU count (tests pass their own)."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "OMP_WAIT_POLICY" in environ or "torch" in modules:
        return None
    try:
        busy = (loadavg or os.getloadavg)()[0] >= (cpus or os.cpu_count() or 1)
    except (OSError, AttributeError):  # no load average on this platform
        return None
    if not busy:
        return None
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"
