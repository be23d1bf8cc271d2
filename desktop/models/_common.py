"""What the item models share: the index type, the first custom role, previews."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

__all__ = ["PREVIEW_CHARS", "USER", "Index", "one_line"]

Index = QModelIndex | QPersistentModelIndex
USER = Qt.ItemDataRole.UserRole
PREVIEW_CHARS = 120


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())[:PREVIEW_CHARS]
