"""Work around a PySide6 bug that would crash a long-running app.

PySide6-Essentials 6.12.0 on CPython 3.11 drops references it does not own:
one to ``None`` on each call of a method returning void (``QFont.setBold``,
``QPainter.setPen``, ``QLabel.setText``...), one to ``True`` on each
``Signal.emit()`` from Python. On 3.12+ these objects are immortal and
nothing happens; on 3.11 their count reaches zero after some thousands of
calls (minutes of use) and the process aborts with "Fatal Python error:
none_dealloc" (or ``bool_dealloc``).

``None``, ``True`` and ``False`` are never freed legitimately, so giving them
a reserve of references that no session can spend is harmless. We only do it
where a probe shows the bug; the real fix is a PySide6 without it (6.11.3
does not have it; see docs/desktop.md).
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["protect_singletons"]

PROBE_CALLS = 64
# 2**48 calls: years of continuous use, and far from the 2**63 limit.
RESERVE = 2**48

_protected = False


def _probe() -> bool:
    """True when Qt calls lose references to None or True."""
    from PySide6.QtCore import QObject, QPoint, Signal

    class _Probe(QObject):
        fired = Signal()

    point, emitter = QPoint(), _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(PROBE_CALLS):
        point.setX(1)
        emitter.fired.emit()
    lost_none = none_before - sys.getrefcount(None)
    lost_true = true_before - sys.getrefcount(True)
    return max(lost_none, lost_true) >= PROBE_CALLS // 2


def protect_singletons() -> bool:
    """Probe for the bug and, if present, give the singletons a reserve."""
    global _protected
    if _protected:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal singletons
    if not _probe():
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every object (non-debug CPython 3.11).
        ctypes.c_ssize_t.from_address(id(singleton)).value += RESERVE
    _protected = True
    return True
