"""A banner across the top of a window: offline, errors, 429 countdowns, news.

Colours are mixed from the palette and a hue per severity, so the banner reads
well on light and dark schemes; the text is also exposed to screen readers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QToolButton,
    QWidget,
)

from ..delegates import mix
from ..plain import PlainLabel, plain_tooltip

__all__ = ["NoticeBar", "Severity"]


class Severity(enum.Enum):
    INFO = "#1e88e5"
    SUCCESS = "#2e7d32"
    WARNING = "#f9a825"
    ERROR = "#d32f2f"


class NoticeBar(QFrame):
    """One line of news with optional buttons; hidden when there is none."""

    closed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None, closable: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self._severity = Severity.INFO
        self._template = ""
        self._remaining = 0
        self._on_countdown_end: Callable[[], None] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self.dismiss)
        layout = QHBoxLayout(self)
        margin = self.fontMetrics().height() // 3
        layout.setContentsMargins(margin * 2, margin, margin, margin)
        # Names, message text, the server's words; a long URL must not widen the window.
        self.label = PlainLabel("", self, wrap_anywhere=True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self._buttons: list[QPushButton] = []
        self._button_box = QHBoxLayout()
        layout.addLayout(self._button_box)
        self.close_button = QToolButton(self)
        self.close_button.setText("\u2715")
        self.close_button.setAutoRaise(True)
        self.close_button.setAccessibleName(self.tr("Dismiss"))
        self.close_button.setToolTip(self.tr("Dismiss"))
        self.close_button.clicked.connect(self.dismiss)
        self.close_button.setVisible(closable)
        layout.addWidget(self.close_button)
        self.hide()

    @property
    def severity(self) -> Severity:
        return self._severity

    @property
    def text(self) -> str:
        return self.label.text()

    def show_message(
        self,
        text: str,
        severity: Severity = Severity.INFO,
        *,
        detail: str = "",
        actions: tuple[tuple[str, Callable[[], None]], ...] = (),
        timeout_ms: int = 0,
    ) -> None:
        self._timer.stop()
        self._hide_timer.stop()
        self._set(text, severity, detail, actions)
        if timeout_ms:
            self._hide_timer.start(timeout_ms)

    def show_countdown(
        self,
        template: str,
        seconds: int,
        severity: Severity = Severity.WARNING,
        *,
        actions: tuple[tuple[str, Callable[[], None]], ...] = (),
        on_end: Callable[[], None] | None = None,
    ) -> None:
        """``template`` with ``%1`` replaced by the seconds left, updated each second."""
        self._hide_timer.stop()
        self._template = template
        self._remaining = max(0, int(seconds))
        self._on_countdown_end = on_end
        self._set(template.replace("%1", str(self._remaining)), severity, "", actions)
        self._timer.start()

    def _tick(self) -> None:
        self._remaining -= 1
        if self._remaining <= 0:
            self._timer.stop()
            callback, self._on_countdown_end = self._on_countdown_end, None
            if callback is not None:
                callback()
            else:
                self.dismiss()
            return
        self.label.setText(self._template.replace("%1", str(self._remaining)))
        self.setAccessibleDescription(self.label.text())

    def _set(
        self,
        text: str,
        severity: Severity,
        detail: str,
        actions: tuple[tuple[str, Callable[[], None]], ...],
    ) -> None:
        self._severity = severity
        self.label.setText(text)
        self.label.setToolTip(plain_tooltip(detail))
        self.setAccessibleName(text)
        self.setAccessibleDescription(detail or text)
        for button in self._buttons:
            button.deleteLater()
        self._buttons = []
        for title, callback in actions:
            button = QPushButton(title, self)
            button.clicked.connect(callback)
            self._button_box.addWidget(button)
            self._buttons.append(button)
        self._recolour()
        self.show()

    @property
    def buttons(self) -> list[QPushButton]:
        return list(self._buttons)

    def dismiss(self) -> None:
        self._timer.stop()
        self._hide_timer.stop()
        if self.isVisible():
            self.hide()
            self.closed.emit()

    def _recolour(self) -> None:
        base = QApplication.palette()  # the system's, without our tint
        window = base.color(QPalette.ColorRole.Window)
        text = base.color(QPalette.ColorRole.WindowText)
        palette = QPalette(base)
        palette.setColor(QPalette.ColorRole.Window, mix(window, QColor(self._severity.value), 0.28))
        palette.setColor(QPalette.ColorRole.WindowText, text)
        self.setPalette(palette)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.ApplicationPaletteChange, QEvent.Type.StyleChange):
            self._recolour()
