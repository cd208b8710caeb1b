"""Ctrl-C, SIGINT and SIGTERM stop ``make run``, ``make dev`` and dbt promptly, leaving nothing behind.

Three things got in the way, each handled here:

- **SIGINT ignored at start.** POSIX starts a background job of a non-interactive shell (``make dev
  &`` in a script, CI, a test) with SIGINT ignored, and an ignored signal stays ignored across
  ``exec``. Dagster then copies that "ignore" onto SIGTERM (``dagster._utils.interrupts.
  setup_interrupt_handlers`` gives SIGTERM whatever SIGINT has), so ``dg dev`` ignored both, and
  ``make`` waited on it until a SIGKILL. ``python -m <package>.utils.interrupts dg dev ...``
  (the Makefile's ``dev``) runs ``dg`` with SIGINT and SIGTERM handled (``run_console_script``).
- **An interrupt swallowed by dagster-dbt.** See ``InterruptWatch`` and ``resources.py``.
- **A dbt process outliving its step.** ``stop_process`` and ``stop_live_processes``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from types import FrameType, TracebackType
from typing import Any

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Handler = Callable[[int, FrameType | None], Any]


def _on_main_thread() -> bool:
    # Python runs signal handlers, and lets them be replaced, on the main thread only.
    return threading.current_thread() is threading.main_thread()


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def interrupts_noted() -> Iterator[Callable[[], signal.Signals | None]]:
    """SIGINT and SIGTERM raise KeyboardInterrupt here (SIGINT even if it was ignored at start);
    yields a function naming the first of them that arrived, or None.

    It also sees the ones Dagster's own handlers took during a run: Dagster *notes* an interrupt
    that comes between steps and forgets it when the run ends, so one arriving while a run winds
    down would otherwise be lost and the next run would start. Every signal with a Python handler
    is also written, as a byte, to the wakeup fd, whichever handler is installed.
    """
    if not _on_main_thread():
        yield lambda: None
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous = {number: signal.getsignal(number) for number in INTERRUPT_SIGNALS}
    previous_wakeup_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    arrived: list[signal.Signals] = []

    def first() -> signal.Signals | None:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read_fd, 512):
                arrived.extend(signal.Signals(n) for n in chunk if n in INTERRUPT_SIGNALS)
        return arrived[0] if arrived else None

    try:
        for number in INTERRUPT_SIGNALS:
            signal.signal(number, _raise_keyboard_interrupt)
        yield first
    finally:
        signal.set_wakeup_fd(previous_wakeup_fd)
        for number, handler in previous.items():
            signal.signal(number, handler)
        os.close(read_fd)
        os.close(write_fd)


class InterruptWatch:
    """While entered, every SIGINT/SIGTERM is noted before the handler in place (Dagster's, during
    a step) raises it; ``check()`` raises a noted one again through that same handler.

    For code that catches what it should not: dagster-dbt 0.29.27 wraps parts of ``dbt.cli()`` and
    of reading dbt's output in a bare ``except:``, which also catches Dagster's
    ``DagsterExecutionInterruptedError`` (and ``KeyboardInterrupt``) and carries on; a ``check()``
    right after such code returns brings the interrupt back. A handler that was not a Python
    function (ignored, default) is left alone.
    """

    def __init__(self) -> None:
        self._wrapped: dict[int, Handler] = {}
        self._noted: int | None = None

    def __enter__(self) -> InterruptWatch:
        if _on_main_thread():
            for number in INTERRUPT_SIGNALS:
                handler = signal.getsignal(number)
                if callable(handler):
                    self._wrapped[number] = handler
                    signal.signal(number, self._note)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for number, handler in self._wrapped.items():
            # Only where this watch is still the handler: Dagster restores its own handlers when a
            # step ends, and putting the step's back after that would be wrong.
            if signal.getsignal(number) == self._note:
                signal.signal(number, handler)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self._noted = signum
        self._wrapped[signum](signum, frame)

    def check(self) -> None:
        """Raise the interrupt noted since the last check (it was swallowed if we got here)."""
        if self._noted is not None:
            signum, self._noted = self._noted, None
            self._wrapped[signum](signum, None)


# dbt processes started by this process and not yet known to have ended.
_LIVE: set[subprocess.Popen[bytes]] = set()


def track(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` when this process exits, if it is still running then."""
    _LIVE.add(process)


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGINT (dbt's graceful stop: it cancels its queries and closes its connections), then
    SIGKILL if it is still running after ``timeout`` seconds; returns once it is gone."""
    _LIVE.discard(process)
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_live_processes(timeout: float = 25) -> None:
    """Stop every tracked process still running (a step left early without stopping its dbt)."""
    for process in list(_LIVE):
        stop_process(process, timeout)


atexit.register(stop_live_processes)


def run_console_script(argv: list[str]) -> None:
    """Run this environment's console script ``argv[0]`` (e.g. ``dg``) in this process, with
    SIGINT and SIGTERM raising KeyboardInterrupt even if SIGINT was ignored at start; if one of
    them stopped it, die of that signal, so make and shells see an interrupt, not a success
    (``dg dev`` treats KeyboardInterrupt as a normal shutdown and exits 0)."""
    (script,) = entry_points(group="console_scripts", name=argv[0])
    main = script.load()
    sys.argv = argv
    code: str | int | None = 0
    with interrupts_noted() as interrupted:
        try:
            code = main()
        except SystemExit as exit_:
            code = exit_.code
        except KeyboardInterrupt:
            code = 1
        signum = interrupted()
    if signum is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(code)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m <package>.utils.interrupts CONSOLE_SCRIPT [ARGS...]")
    run_console_script(sys.argv[1:])
