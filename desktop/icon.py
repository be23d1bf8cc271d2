"""The application icon, drawn at run time (no image files to ship or lose)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap

__all__ = ["app_icon"]

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
PRO_COLOUR = "#1565c0"
CLIENT_COLOUR = "#2e7d32"


def _pixmap(size: int, colour: str, badge: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    bubble = QRectF(size * 0.06, size * 0.08, size * 0.88, size * 0.68)
    path = QPainterPath()
    path.addRoundedRect(bubble, size * 0.18, size * 0.18)
    tail = QPainterPath()
    tail.moveTo(QPointF(size * 0.26, bubble.bottom() - 1))
    tail.lineTo(QPointF(size * 0.2, size * 0.95))
    tail.lineTo(QPointF(size * 0.48, bubble.bottom() - 1))
    tail.closeSubpath()
    painter.fillPath(path.united(tail), QColor(colour))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, int(size * 0.46)))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(bubble, Qt.AlignmentFlag.AlignCenter, "T")
    if badge:
        radius = size * 0.2
        painter.setBrush(QColor("#e53935"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(QPointF(size - radius, radius), radius, radius)
    painter.end()
    return pixmap


def app_icon(kind: str = "client", unread: int = 0) -> QIcon:
    """The icon of ``kind`` ("pro", "client", "admin"), with a dot when unread."""
    colour = PRO_COLOUR if kind in ("pro", "admin") else CLIENT_COLOUR
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addPixmap(_pixmap(size, colour, unread))
    return icon
