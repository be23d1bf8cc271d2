"""Times and names as the user reads them: local time, the locale's formats."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from PySide6.QtCore import QCoreApplication, QDate, QDateTime, QLocale, QTime

__all__ = ["day_label", "full_time", "list_time", "local", "log_time", "short_time"]


def local(moment: datetime) -> datetime:
    """An aware UTC time in the machine's time zone."""
    return moment.astimezone()


def _qtime(moment: datetime) -> QTime:
    moment = local(moment)
    return QTime(moment.hour, moment.minute, moment.second)


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def short_time(moment: datetime) -> str:
    """``14:03`` (the locale's short time)."""
    return QLocale().toString(_qtime(moment), QLocale.FormatType.ShortFormat)


def day_label(moment: datetime, today: date | None = None) -> str:
    """``Aujourd'hui``, ``Hier`` or the locale's long date."""
    day = local(moment).date()
    today = today or datetime.now().astimezone().date()
    if day == today:
        return QCoreApplication.translate("Time", "Today")
    if day == today - timedelta(days=1):
        return QCoreApplication.translate("Time", "Yesterday")
    return QLocale().toString(_qdate(day), QLocale.FormatType.LongFormat)


def list_time(moment: datetime, today: date | None = None) -> str:
    """For the conversation list: the time today, else the short date."""
    day = local(moment).date()
    today = today or datetime.now().astimezone().date()
    if day == today:
        return short_time(moment)
    return QLocale().toString(_qdate(day), QLocale.FormatType.ShortFormat)


def full_time(moment: datetime | None) -> str:
    """``25 novembre 2026 14:03``: the long date and the time, no zone name."""
    if moment is None:
        return "—"
    moment = local(moment)
    locale = QLocale()
    day = locale.toString(
        _qdate(moment.date()),
        locale.dateFormat(QLocale.FormatType.LongFormat).replace("dddd", "").strip(" ,"),
    )
    return f"{day} {short_time(moment)}"


def log_time(moment: datetime) -> str:
    """``25/11/2026 14:03:07``: the short date and the time with seconds."""
    moment = local(moment)
    value = QDateTime(_qdate(moment.date()), _qtime(moment))
    locale = QLocale()
    pattern = locale.dateFormat(QLocale.FormatType.ShortFormat) + " HH:mm:ss"
    return locale.toString(value, pattern)
