"""Stop signals: recorded by a handler that takes no lock, seen by the main thread."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from nrt.signals import STOP_SIGNALS, StopSignals


@pytest.fixture(autouse=True)
def restore_handlers():
    saved = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.timeout(20)
def test_a_signal_that_comes_while_the_main_thread_holds_the_stop_events_lock_does_not_hang_it():
    # GIVEN the lock inside an Event held by the main thread (as inside Event.wait())
    stop = threading.Event()
    signals = StopSignals.install()
    with stop._cond:  # the lock Event.set() takes: a handler calling it here waits for ever
        # WHEN SIGTERM arrives at that moment
        signal.raise_signal(signal.SIGTERM)
    # THEN the handler returned at once, and the main thread sees the signal
    signals.wait()
    assert signals.stopped and signals.received == [signal.SIGTERM]


@pytest.mark.timeout(20)
def test_wait_returns_on_sigint_from_another_thread():
    signals = StopSignals.install()
    threading.Timer(0.2, signal.raise_signal, (signal.SIGINT,)).start()
    started = time.monotonic()
    signals.wait(poll=0.1)
    assert signals.received == [signal.SIGINT]
    assert time.monotonic() - started < 5


def test_wait_returns_when_the_work_ends_without_a_signal():
    signals = StopSignals.install()
    done = threading.Event()
    threading.Timer(0.1, done.set).start()
    signals.wait(alive=lambda: not done.is_set(), poll=0.05)
    assert not signals.stopped


def test_a_second_install_while_the_first_is_in_force_keeps_what_the_first_recorded():
    # GIVEN the handlers the `nrt` command installs before its imports, and a SIGINT then
    early = StopSignals.install()
    signal.raise_signal(signal.SIGINT)
    # WHEN `nrt up` installs its own once it runs
    later = StopSignals.install()
    # THEN it sees that SIGINT, and stops once started
    assert later is early and later.stopped


def test_uninstall_gives_python_its_own_ctrl_c_again():
    StopSignals.install().uninstall()
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert not StopSignals.install().stopped  # a fresh record once the old one is gone
