"""Painting the conversation list rows and the message bubbles.

As in Qt's ``stardelegate`` example, ``paint`` and ``sizeHint`` hand the work
to plain helpers that save and restore the painter and take every colour from
the palette, so light and dark schemes (and high contrast) follow the system.
Every length is a multiple of the font's height, so the layout grows with the
system font size.

Bubble sizes are cached by (message, width, font): with thousands of messages
the view asks for many size hints, and text layout is the costly part.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPalette,
    QTextLayout,
    QTextLine,
    QTextOption,
)
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem, QWidget

from protocol.models import Message

from .formatting import day_label, list_time, short_time
from .models import ConversationListModel, MessageModel
from .plain import PlainToolTipDelegate

__all__ = ["ConversationDelegate", "MessageDelegate", "links_in", "mix"]

SIZE_CACHE_ENTRIES = 5000
BUBBLE_WIDTH_RATIO = 0.72
SMALL_FONT_RATIO = 0.85
LINE_SEPARATOR = "\u2028"
READ_MARK = "\u2713\u2713"
SENT_MARK = "\u2713"


def mix(first: QColor, second: QColor, amount: float) -> QColor:
    """``first`` moved ``amount`` (0..1) of the way towards ``second``."""
    return QColor.fromRgbF(
        first.redF() + (second.redF() - first.redF()) * amount,
        first.greenF() + (second.greenF() - first.greenF()) * amount,
        first.blueF() + (second.blueF() - first.blueF()) * amount,
        1.0,
    )


def small_font(font: QFont) -> QFont:
    small = QFont(font)
    if font.pointSizeF() > 0:
        small.setPointSizeF(font.pointSizeF() * SMALL_FONT_RATIO)
    else:
        small.setPixelSize(max(8, round(font.pixelSize() * SMALL_FONT_RATIO)))
    return small


# Web links in message text: shown underlined, opened in the browser on a click.
# Trailing punctuation belongs to the sentence, not to the address.
LINK = re.compile(r"\bhttps?://[^\s<>\"]+", re.IGNORECASE)
LINK_TRAILING = ".,;:!?)]}'»"


def links_in(text: str) -> list[tuple[int, int, str]]:
    """``(start, length, url)`` of each web link in ``text``."""
    found = []
    for match in LINK.finditer(text):
        url = match.group(0).rstrip(LINK_TRAILING)
        if len(url) > len("https://"):
            found.append((match.start(), len(url), url))
    return found


def _display_text(text: str) -> str:
    # Same length as the text (a line separator for each newline; a CRLF is
    # two characters, kept as a separator and a zero-width space): positions
    # in the layout are positions in the text, for the links.
    return text.replace("\r\n", LINE_SEPARATOR + "\u200b").replace("\n", LINE_SEPARATOR)


def _layout(
    text: str, font: QFont, width: float, link_colour: QColor | None = None
) -> tuple[QTextLayout, float, float]:
    """Lay ``text`` out in ``width``; returns the layout, its width and height.

    With ``link_colour``, web links are underlined in that colour (no change
    of size: the same layout serves ``sizeHint`` without it)."""
    layout = QTextLayout(_display_text(text), font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    if link_colour is not None:
        formats = []
        for start, length, _url in links_in(text):
            span = QTextLayout.FormatRange()
            span.start, span.length = start, length
            span.format.setForeground(link_colour)
            span.format.setFontUnderline(True)
            formats.append(span)
        layout.setFormats(formats)
    layout.beginLayout()
    height = used = 0.0
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        line.setPosition(QPointF(0, height))
        height += line.height()
        used = max(used, line.naturalTextWidth())
    layout.endLayout()
    return layout, used, height


# --- message bubbles ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BubbleGeometry:
    """Where everything of one row goes, relative to the row's top left."""

    header: float  # height taken by the day header and the divider
    bubble: QRectF
    text_origin: QPointF
    text_width: float
    footer: QRectF
    height: float


class BubblePainter:
    """Lays out and paints one message row; knows nothing of models or views."""

    def __init__(self, font: QFont) -> None:
        # A copy: the font of a style option dies with the option.
        self.font = QFont(font)
        self.small = small_font(font)
        self.metrics = QFontMetricsF(font)
        self.small_metrics = QFontMetricsF(self.small)
        unit = self.metrics.height()
        self.margin = unit * 0.7
        self.padding = unit * 0.45
        self.gap = unit * 0.25
        self.radius = unit * 0.6
        self.header_height = unit * 1.7

    def text_of(self, message: Message, deleted_text: str) -> str:
        return deleted_text if message.deleted else (message.text or "")

    def footer_text(self, message: Message, mine: bool, edited_text: str) -> str:
        parts = [short_time(message.sent_at)]
        if message.modified_at is not None and not message.deleted:
            parts.append(edited_text)
        text = " · ".join(parts)
        if mine and not message.deleted:
            text += "  " + (READ_MARK if message.read_at is not None else SENT_MARK)
        return text

    def geometry(
        self,
        width: float,
        text: str,
        footer: str,
        mine: bool,
        headers: int,
        deleted: bool,
    ) -> BubbleGeometry:
        header = headers * self.header_height
        maximum = max(self.metrics.height() * 4, (width - 2 * self.margin) * BUBBLE_WIDTH_RATIO)
        inner = maximum - 2 * self.padding
        font = self._text_font(deleted)
        _, text_width, text_height = _layout(text, font, inner)
        footer_width = self.small_metrics.horizontalAdvance(footer)
        bubble_width = max(text_width, footer_width) + 2 * self.padding
        bubble_height = (
            self.padding + text_height + self.gap + self.small_metrics.height() + self.padding
        )
        left = width - self.margin - bubble_width if mine else self.margin
        top = header + self.gap
        bubble = QRectF(left, top, bubble_width, bubble_height)
        footer_rect = QRectF(
            left + self.padding,
            top + bubble_height - self.padding - self.small_metrics.height(),
            bubble_width - 2 * self.padding,
            self.small_metrics.height(),
        )
        return BubbleGeometry(
            header,
            bubble,
            QPointF(left + self.padding, top + self.padding),
            inner,
            footer_rect,
            top + bubble_height + self.gap,
        )

    def _text_font(self, deleted: bool) -> QFont:
        if not deleted:
            return self.font
        font = QFont(self.font)
        font.setItalic(True)
        return font

    def paint(
        self,
        painter: QPainter,
        origin: QPointF,
        width: float,
        palette: QPalette,
        geometry: BubbleGeometry,
        *,
        text: str,
        footer: str,
        mine: bool,
        deleted: bool,
        day: str | None,
        divider: str | None,
        selected: bool,
        focused: bool,
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.translate(origin)
        text_colour = palette.color(QPalette.ColorRole.Text)
        base = palette.color(QPalette.ColorRole.Base)
        quiet = palette.color(QPalette.ColorRole.PlaceholderText)
        accent = palette.color(QPalette.ColorRole.Highlight)
        top = 0.0
        if day is not None:
            painter.setFont(self.small)
            painter.setPen(quiet)
            painter.drawText(
                QRectF(0, top, width, self.header_height), Qt.AlignmentFlag.AlignCenter, day
            )
            top += self.header_height
        if divider is not None:
            painter.setFont(self.small)
            middle = top + self.header_height / 2
            label_width = self.small_metrics.horizontalAdvance(divider) + 2 * self.padding
            painter.setPen(accent)
            left_end = (width - label_width) / 2
            painter.drawLine(QPointF(self.margin, middle), QPointF(left_end, middle))
            painter.drawLine(
                QPointF(left_end + label_width, middle), QPointF(width - self.margin, middle)
            )
            painter.drawText(
                QRectF(left_end, top, label_width, self.header_height),
                Qt.AlignmentFlag.AlignCenter,
                divider,
            )
        bubble = geometry.bubble
        if mine:
            fill = accent
            ink = palette.color(QPalette.ColorRole.HighlightedText)
        else:
            fill = mix(base, text_colour, 0.09)
            ink = text_colour
        if deleted:
            painter.setPen(mix(base, text_colour, 0.35))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            ink = quiet
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
        painter.drawRoundedRect(bubble, self.radius, self.radius)
        if selected or focused:
            pen = painter.pen()
            pen.setColor(text_colour if mine else accent)
            pen.setWidthF(max(1.5, self.metrics.height() / 10))
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            outline = bubble.adjusted(-2, -2, 2, 2)
            painter.drawRoundedRect(outline, self.radius + 2, self.radius + 2)
        if deleted:
            link = None
        elif mine:
            link = ink
        else:
            link = palette.color(QPalette.ColorRole.Link)
        layout, _, _ = _layout(text, self._text_font(deleted), geometry.text_width, link)
        painter.setPen(ink)
        layout.draw(painter, geometry.text_origin)
        painter.setFont(self.small)
        footer_colour = QColor(ink)
        footer_colour.setAlphaF(0.8)
        painter.setPen(footer_colour)
        painter.drawText(geometry.footer, Qt.AlignmentFlag.AlignRight, footer)
        painter.restore()


class MessageDelegate(PlainToolTipDelegate):
    """Bubbles: mine on the right in the accent colour, theirs on the left."""

    def link_at(self, option: QStyleOptionViewItem, index: QModelIndex, point: QPointF) -> str:
        """The web link under ``point`` (view coordinates) in the row, or ""."""
        row = self._row(option, index)
        if row is None or row["deleted"]:
            return ""
        text = row["text"]
        links = links_in(text)
        if not links:
            return ""
        geometry = row["geometry"]
        painter = row["painter"]
        layout, _, _ = _layout(text, painter._text_font(False), geometry.text_width)
        local = point - QPointF(option.rect.topLeft()) - geometry.text_origin
        for number in range(layout.lineCount()):
            line = layout.lineAt(number)
            if not (line.y() <= local.y() < line.y() + line.height()):
                continue
            if not (0 <= local.x() <= line.naturalTextWidth()):
                return ""
            position = line.xToCursor(local.x(), QTextLine.CursorPosition.CursorOnCharacter)
            for start, length, url in links:
                if start <= position < start + length:
                    return url
            return ""
        return ""

    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        self._view = view
        self._sizes: OrderedDict[tuple[Any, ...], BubbleGeometry] = OrderedDict()
        self._painters: dict[str, BubblePainter] = {}

    def _width(self, option: QStyleOptionViewItem) -> float:
        viewport = getattr(self._view, "viewport", None)
        width = viewport().width() if viewport is not None else option.rect.width()
        return float(max(width, 120))

    def _strings(self) -> tuple[str, str, str]:
        return self.tr("Message deleted"), self.tr("edited"), self.tr("New messages")

    def _row(self, option: QStyleOptionViewItem, index: QModelIndex) -> dict[str, Any] | None:
        message = index.data(MessageModel.MessageRole)
        if message is None:
            return None
        deleted_text, edited_text, divider_text = self._strings()
        mine = bool(index.data(MessageModel.MineRole))
        font_key = option.font.key()
        painter = self._painters.get(font_key)
        if painter is None:
            painter = self._painters[font_key] = BubblePainter(option.font)
        day = day_label(message.sent_at) if index.data(MessageModel.DayHeaderRole) else None
        divider = divider_text if index.data(MessageModel.DividerRole) else None
        text = painter.text_of(message, deleted_text)
        footer = painter.footer_text(message, mine, edited_text)
        width = self._width(option)
        key = (message, mine, day, divider, width, font_key)
        geometry = self._sizes.get(key)
        if geometry is None:
            headers = (day is not None) + (divider is not None)
            geometry = painter.geometry(width, text, footer, mine, headers, message.deleted)
            self._sizes[key] = geometry
            if len(self._sizes) > SIZE_CACHE_ENTRIES:
                self._sizes.popitem(last=False)
        else:
            self._sizes.move_to_end(key)
        return {
            "painter": painter,
            "geometry": geometry,
            "text": text,
            "footer": footer,
            "mine": mine,
            "deleted": message.deleted,
            "day": day,
            "divider": divider,
            "width": width,
        }

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        row = self._row(option, index)
        if row is None:
            return super().sizeHint(option, index)
        return QSize(int(row["width"]) - 1, int(row["geometry"].height + 0.999))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        row = self._row(option, index)
        if row is None:
            super().paint(painter, option, index)
            return
        state = option.state
        row["painter"].paint(
            painter,
            QPointF(option.rect.topLeft()),
            float(option.rect.width()),
            option.palette,
            row["geometry"],
            text=row["text"],
            footer=row["footer"],
            mine=row["mine"],
            deleted=row["deleted"],
            day=row["day"],
            divider=row["divider"],
            selected=bool(state & QStyle.StateFlag.State_Selected),
            focused=bool(state & QStyle.StateFlag.State_HasFocus),
        )


# --- the conversation list ---------------------------------------------------------------------


class ConversationDelegate(PlainToolTipDelegate):
    """Two lines per conversation: name and time; preview and unread badge."""

    def _metrics(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFontMetricsF]:
        bold = QFont(option.font)
        bold.setBold(True)
        return bold, small_font(option.font), QFontMetricsF(option.font)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        _, small, metrics = self._metrics(option)
        unit = metrics.height()
        height = unit * 0.6 * 2 + unit + QFontMetricsF(small).height() + unit * 0.2
        return QSize(int(unit * 12), int(height + 0.999))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        bold, small, metrics = self._metrics(option)
        small_metrics = QFontMetricsF(small)
        unit = metrics.height()
        widget = option.widget
        style = widget.style() if widget is not None else None
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if style is not None:
            style.drawPrimitive(
                QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget
            )
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        text_colour = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        quiet = mix(
            text_colour,
            palette.color(QPalette.ColorRole.Highlight if selected else QPalette.ColorRole.Base),
            0.35,
        )
        rect = QRectF(option.rect).adjusted(unit * 0.6, unit * 0.6, -unit * 0.6, -unit * 0.6)
        name = index.data(ConversationListModel.NameRole) or ""
        when = index.data(ConversationListModel.TimeRole)
        preview = index.data(ConversationListModel.PreviewRole) or ""
        unread = int(index.data(ConversationListModel.UnreadRole) or 0)
        status = index.data(ConversationListModel.StatusRole) or ""
        if index.data(ConversationListModel.LastFromMeRole) and preview:
            preview = self.tr("You: %1").replace("%1", preview)
        if not preview:
            preview = self.tr("No message yet")
        draft = index.data(ConversationListModel.DraftRole) or ""
        if draft:
            # Text written and not sent: said first, as in every messenger.
            preview = self.tr("Draft: %1").replace("%1", draft)
        # First line: name (bold), status, time on the right.
        time_text = list_time(when) if when is not None else ""
        time_width = small_metrics.horizontalAdvance(time_text)
        painter.setFont(small)
        painter.setPen(quiet)
        first = QRectF(rect.left(), rect.top(), rect.width(), unit)
        painter.drawText(
            first, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, time_text
        )
        name_room = rect.width() - time_width - unit * 0.5
        bold_metrics = QFontMetricsF(bold)
        if status:
            status_text = f"  {status}"
            status_width = min(small_metrics.horizontalAdvance(status_text), name_room / 2)
        else:
            status_text, status_width = "", 0.0
        elided = bold_metrics.elidedText(
            name, Qt.TextElideMode.ElideRight, name_room - status_width
        )
        painter.setFont(bold)
        painter.setPen(text_colour)
        painter.drawText(first, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)
        if status_text:
            painter.setFont(small)
            painter.setPen(quiet)
            start = rect.left() + bold_metrics.horizontalAdvance(elided)
            painter.drawText(
                QRectF(start, rect.top(), status_width, unit),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                small_metrics.elidedText(status_text, Qt.TextElideMode.ElideRight, status_width),
            )
        # Second line: preview, unread badge on the right.
        second = QRectF(
            rect.left(), rect.top() + unit + unit * 0.2, rect.width(), small_metrics.height()
        )
        badge_width = 0.0
        if unread:
            badge_text = str(unread) if unread < 1000 else "999+"
            badge_width = max(
                small_metrics.height(), small_metrics.horizontalAdvance(badge_text) + unit * 0.6
            )
            badge = QRectF(second.right() - badge_width, second.top(), badge_width, second.height())
            accent = palette.color(
                QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Highlight
            )
            ink = palette.color(
                QPalette.ColorRole.Highlight if selected else QPalette.ColorRole.HighlightedText
            )
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(accent)
            painter.drawRoundedRect(badge, badge.height() / 2, badge.height() / 2)
            painter.setFont(small)
            painter.setPen(ink)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, badge_text)
        preview_font = QFont(small)
        preview_font.setBold(bool(unread))
        preview_font.setItalic(bool(index.data(ConversationListModel.LastDeletedRole) or draft))
        painter.setFont(preview_font)
        painter.setPen(text_colour if unread else quiet)
        room = second.width() - badge_width - (unit * 0.5 if unread else 0)
        painter.drawText(
            QRectF(second.left(), second.top(), room, second.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetricsF(preview_font).elidedText(preview, Qt.TextElideMode.ElideRight, room),
        )
        painter.restore()
