"""Every status code, and a lost connection, as a clear translated sentence.

The server's own ``error`` text is English and meant for developers: it is
kept as ``detail`` (shown in a tooltip), while ``message`` is written for the
user, in their language, and depends on what they were doing (``Action``):
a 403 while sending is not the same news as a 403 while editing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication

from protocol.errors import ConnectionLost, StatusError

__all__ = ["Action", "ServiceError", "describe_status", "from_exception"]


class Action(enum.Enum):
    LOGIN = "login"
    TRUST = "trust"
    CONVERSATIONS = "conversations"
    HISTORY = "history"
    READ = "read"
    SEND = "send"
    EDIT = "edit"
    DELETE = "delete"
    INFO = "info"
    BLOCK = "block"
    UNBLOCK = "unblock"
    BAN = "ban"
    UNBAN = "unban"
    SANCTIONS = "sanctions"
    DIRECTORY = "directory"
    LOGS = "logs"
    SYNC = "sync"
    PUSH = "push"


@dataclass(frozen=True, slots=True)
class ServiceError:
    """What went wrong, ready for the user."""

    action: Action
    message: str
    detail: str = ""
    code: int | None = None  # None: no connection
    retry_after: int | None = None
    target: int | None = None  # partner, client or message id the action was about


translate = QCoreApplication.translate


def describe_status(code: int, action: Action, body: dict | None = None) -> str:
    body = body or {}
    if code == 400:
        if action in (Action.SEND, Action.EDIT):
            return translate("Errors", "The message is empty or malformed: nothing was sent.")
        if action is Action.SYNC:
            return translate(
                "Errors", "The configuration file is invalid: the server kept its settings."
            )
        return translate("Errors", "The server refused the request as malformed.")
    if code == 401:
        if action is Action.LOGIN:
            return translate("Errors", "This API key (or session) is not valid on this server.")
        return translate("Errors", "Your session is no longer valid: log in again.")
    if code == 403:
        if action is Action.SEND:
            return translate(
                "Errors",
                "You cannot write to this person: a block or a ban is in force, "
                "or the rules do not allow it.",
            )
        if action in (Action.EDIT, Action.DELETE):
            return translate("Errors", "Only the sender of a message can change it.")
        if action is Action.INFO:
            return translate("Errors", "This message is not one of yours.")
        return translate("Errors", "You are not allowed to do this.")
    if code == 404:
        if action is Action.UNBAN:
            return translate("Errors", "There is no ban to lift on this customer.")
        if action is Action.UNBLOCK:
            return translate("Errors", "There is no block to lift on this customer.")
        if action in (Action.BLOCK, Action.BAN):
            return translate("Errors", "This customer does not exist.")
        if action in (Action.EDIT, Action.DELETE, Action.INFO):
            return translate("Errors", "This message does not exist any more.")
        if action is Action.SYNC:
            return translate("Errors", "The server cannot find its configuration file.")
        return translate("Errors", "This person does not exist (any more).")
    if code == 409:
        if action is Action.BLOCK:
            return translate("Errors", "You have already blocked this customer.")
        if action is Action.BAN:
            return translate("Errors", "You have already banned this customer.")
        return translate("Errors", "This is already done.")
    if code == 413:
        limit = body.get("max")
        if limit is not None:
            return translate("Errors", "The message is too long: at most %1 characters.").replace(
                "%1", str(limit)
            )
        return translate("Errors", "The request is too long for the server.")
    if code == 416:
        return translate("Errors", "This page of the list does not exist any more; refresh.")
    if code == 429:
        wait = body.get("retry_after")
        if wait is not None:
            return translate("Errors", "Too many requests: you can try again in %1 s.").replace(
                "%1", str(wait)
            )
        return translate("Errors", "Too many requests: wait a moment before trying again.")
    if code == 500:
        return translate("Errors", "The server failed to handle this request; try again later.")
    if code == 503:
        return translate("Errors", "The server is not available for now; try again later.")
    return translate("Errors", "Unexpected answer from the server (code %1).").replace(
        "%1", str(code)
    )


def offline_message(action: Action) -> str:
    if action is Action.SEND:
        return translate("Errors", "No connection to the server: the message was not sent.")
    if action is Action.LOGIN:
        return translate(
            "Errors", "Cannot reach the server: check its address and that it is running."
        )
    return translate("Errors", "No connection to the server: the action was not done.")


def from_exception(error: BaseException, action: Action, target: int | None = None) -> ServiceError:
    if isinstance(error, StatusError):
        return ServiceError(
            action,
            describe_status(error.code, action, error.body),
            error.error,
            error.code,
            error.retry_after,
            target,
        )
    if isinstance(error, ConnectionLost):
        return ServiceError(action, offline_message(action), str(error), None, None, target)
    message = translate("Errors", "Unexpected error: %1").replace("%1", str(error))
    return ServiceError(action, message, repr(error), None, None, target)
