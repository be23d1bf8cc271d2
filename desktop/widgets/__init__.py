"""The windows and dialogs of the desktop apps."""

from .admin import AdminWindow
from .chat import ChatWindow
from .composer import Composer, MessageEdit
from .conversation import ConversationPane, MessageListView
from .conversation_list import ConversationList
from .login import FingerprintDialog, LoginDialog, role_allowed
from .notice import NoticeBar, Severity

__all__ = [
    "AdminWindow",
    "ChatWindow",
    "Composer",
    "ConversationList",
    "ConversationPane",
    "FingerprintDialog",
    "LoginDialog",
    "MessageEdit",
    "MessageListView",
    "NoticeBar",
    "Severity",
    "role_allowed",
]
