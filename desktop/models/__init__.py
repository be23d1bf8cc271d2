"""Item models: the conversation list, one conversation's messages, tables.

As in Qt's ``fetchmore`` example, the models hold the data and the windows
hold none; ``data()`` checks its index; ``fetchMore`` inserts inside
``beginInsertRows``/``endInsertRows``. Loading is asynchronous here: a model's
``fetchMore`` only emits a request signal (the window passes it to the
``ChatService``) and the rows arrive later through ``load_page``.

Custom roles carry typed values for the delegates; ``Qt.DisplayRole`` and
``Qt.AccessibleTextRole`` carry plain sentences for screen readers.
"""

from .admin import LogModel, RestrictionModel, SanctionState, UserTableModel
from .conversations import ConversationListModel, ConversationRow
from .messages import MessageModel

__all__ = [
    "ConversationListModel",
    "ConversationRow",
    "LogModel",
    "MessageModel",
    "RestrictionModel",
    "SanctionState",
    "UserTableModel",
]
