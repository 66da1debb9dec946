"""Stopping on SIGTERM and SIGINT with no lock taken inside the signal handler.

Python runs a handler in the main thread between two bytecodes, including while that thread
holds the lock inside `threading.Event.wait()`. A handler that calls `Event.set()` then waits
for that lock forever: a stream worker whose parent died (the kernel's SIGTERM) hung this way,
and stayed behind its parent for good. The handler here only records the signal; the main
thread, outside any handler, sees it and returns.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class StopSignals:
    """SIGTERM and SIGINT, recorded from the moment `install()` returns."""

    received: list[int] = field(default_factory=list)

    @classmethod
    def install(cls) -> StopSignals:
        """Catch both signals, also when started with SIGINT ignored (a script's background job
        is): Python keeps an inherited SIG_IGN unless a handler is set. While one record's
        handlers are in force (the `nrt` command installs them before its imports), that record,
        with what it holds."""
        current = signal.getsignal(signal.SIGINT)
        if isinstance(current, _Recorder):
            return current.signals
        signals = cls()
        recorder = _Recorder(signals)
        for number in STOP_SIGNALS:
            signal.signal(number, recorder)
        return signals

    def uninstall(self) -> None:
        """Python's own handlers again: Ctrl-C raises KeyboardInterrupt, SIGTERM ends the process."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    @property
    def stopped(self) -> bool:
        return bool(self.received)

    def wait(self, alive: Callable[[], bool] = lambda: True, poll: float = 0.2) -> None:
        """Return once a stop signal came, or once `alive()` is false; call from the main thread."""
        while not self.received and alive():
            time.sleep(poll)  # the handler runs during the sleep; the loop sees it within `poll`


@dataclass(frozen=True)
class _Recorder:
    """The handler: list.append holds no lock a Python thread could be holding when interrupted."""

    signals: StopSignals

    def __call__(self, received: int, _frame: FrameType | None) -> None:
        self.signals.received.append(received)
