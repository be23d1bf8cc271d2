"""Logging in: server address, API key, and how to trust the server's TLS.

Never send the key before the certificate is trusted (Pactocole section 1):
with a CA file or a remembered CA, the key goes only on a connection that
verified the chain and the host name; with trust on first use, the CA is
fetched on a connection that carries no key, its SHA-256 fingerprint (computed
here) is shown, and only if the user confirms it is the verified connection
opened and the key sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from protocol.errors import ConnectionLost, StatusError
from protocol.models import User

from ..errors import Action, describe_status, offline_message
from ..icon import app_icon
from ..plain import PlainLabel
from ..service import CertificateChanged, ChatService
from ..settings import KeyStore, Settings, TrustedServer
from ..trust import CertificateOffer, ServerAddress, TrustError, fingerprint_of_pem
from .dialogs import await_dialog

__all__ = ["FingerprintDialog", "LoginDialog", "role_allowed"]

DEFAULT_SERVER = "localhost:4242"
DEFAULT_CA_FILE = Path("certs") / "ca.pem"
# The hosts for which ./certs/ca.pem is taken as the server's own CA: a server
# started from this folder. For any other host a file lying in the current
# folder proves nothing, so the fingerprint step is offered instead.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def role_allowed(kind: str, role: str) -> bool:
    """Each app is for its users; the admin key opens moderation in either."""
    return role == "admin" or role == kind


def is_local(address: ServerAddress) -> bool:
    return address.host.lower() in LOCAL_HOSTS


def _read_ca(path: str) -> str:
    return Path(path).expanduser().read_text(encoding="ascii")


class FingerprintDialog(QDialog):
    """Trust on first use: the user compares the fingerprint, then decides."""

    def __init__(self, offer: CertificateOffer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fingerprint")
        self.setWindowTitle(self.tr("Check the server's certificate"))
        layout = QVBoxLayout(self)
        intro = PlainLabel(
            self.tr(
                "First connection to %1. Compare this SHA-256 fingerprint with the one "
                'the server printed when it started ("CA fingerprint"), or ask its '
                "operator. Continue only if they are identical: otherwise someone may be "
                "impersonating the server. Nothing has been sent yet."
            ).replace("%1", str(offer.address)),
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        groups = offer.fingerprint.split(":")
        half = len(groups) // 2
        text = ":".join(groups[:half]) + ":\n" + ":".join(groups[half:])
        self.fingerprint_label = QLabel(text, self)
        self.fingerprint_label.setObjectName("fingerprint-value")
        self.fingerprint_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        mono = QFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        mono.setPointSizeF(max(mono.pointSizeF(), self.font().pointSizeF()))
        self.fingerprint_label.setFont(mono)
        self.fingerprint_label.setAccessibleName(self.tr("Fingerprint"))
        self.fingerprint_label.setAccessibleDescription(offer.fingerprint)
        layout.addWidget(self.fingerprint_label)
        buttons = QDialogButtonBox(self)
        self.trust_button = buttons.addButton(
            self.tr("&Trust this server"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        # The safe answer is the default one.
        self.cancel_button.setDefault(True)
        self.cancel_button.setFocus()
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class LoginDialog(QDialog):
    def __init__(
        self,
        kind: str,
        service: ChatService,
        settings: Settings,
        keys: KeyStore,
        *,
        server: str = "",
        ca_file: str = "",
        key: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.kind = kind
        self.service = service
        self.settings = settings
        self.keys = keys
        self.user: User | None = None
        self.fingerprint_dialog: FingerprintDialog | None = None
        self._task: asyncio.Task[None] | None = None
        self._focus_after: QWidget | None = None
        self.setObjectName("login")
        self.setWindowIcon(app_icon(kind))
        app = "Tchatator Pro" if kind == "pro" else "Tchatator"
        subject = self.tr("Log in")
        self.setWindowTitle(f"{subject} — {app}")  # the app's name last, once
        layout = QVBoxLayout(self)
        heading = QLabel(
            self.tr("Professional space") if kind == "pro" else self.tr("Customer space"), self
        )
        font = QFont(heading.font())
        font.setBold(True)
        if font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * 1.3)
        heading.setFont(font)
        layout.addWidget(heading)
        form = QFormLayout()
        self.server_edit = QLineEdit(server or settings.last_server(kind) or DEFAULT_SERVER, self)
        self.server_edit.setObjectName("server")
        self.server_edit.setAccessibleName(self.tr("Server address"))
        self.server_edit.setPlaceholderText(DEFAULT_SERVER)
        form.addRow(self.tr("&Server:"), self.server_edit)
        self.key_edit = QLineEdit(key, self)
        self.key_edit.setObjectName("key")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setAccessibleName(self.tr("API key"))
        self.show_key = QToolButton(self)
        self.show_key.setText(self.tr("Show"))
        self.show_key.setCheckable(True)
        self.show_key.setToolTip(self.tr("Show the key"))
        self.show_key.setAccessibleName(self.tr("Show the key"))
        self.show_key.toggled.connect(
            lambda on: self.key_edit.setEchoMode(
                QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
            )
        )
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.show_key)
        key_label = QLabel(self.tr("API &key:"), self)
        key_label.setBuddy(self.key_edit)
        form.addRow(key_label, key_row)
        layout.addLayout(form)
        # Trust.
        box = QGroupBox(self.tr("Trusting the server (TLS)"), self)
        trust = QVBoxLayout(box)
        self.saved_radio = QRadioButton(box)
        self.saved_radio.setObjectName("trust-saved")
        self.file_radio = QRadioButton(self.tr("The server's &CA file (certs/ca.pem)"), box)
        self.file_radio.setObjectName("trust-file")
        self.tofu_radio = QRadioButton(
            self.tr("&Fetch the certificate and check its fingerprint"), box
        )
        self.tofu_radio.setObjectName("trust-fingerprint")
        group = QButtonGroup(self)
        for radio in (self.saved_radio, self.file_radio, self.tofu_radio):
            group.addButton(radio)
        trust.addWidget(self.saved_radio)
        trust.addWidget(self.file_radio)
        row = QHBoxLayout()
        self.ca_edit = QLineEdit(ca_file, box)
        self.ca_edit.setObjectName("ca-file")
        self.ca_edit.setAccessibleName(self.tr("CA file"))
        # True while the CA field holds the local default (not a file the user chose).
        self._ca_prefilled = False
        # Until the user picks a way to trust, it follows the server typed.
        self._trust_chosen = bool(ca_file)
        browse = QPushButton(self.tr("&Browse…"), box)
        browse.clicked.connect(self._browse)
        row.addSpacing(self.fontMetrics().height())
        row.addWidget(self.ca_edit, 1)
        row.addWidget(browse)
        trust.addLayout(row)
        trust.addWidget(self.tofu_radio)
        layout.addWidget(box)
        self.remember_check = QCheckBox(self)
        self.remember_check.setObjectName("remember-key")
        self.remember_check.setChecked(settings.remember_key(kind))
        if keys.uses_keyring:
            self.remember_check.setText(self.tr("Remember the key in the system keyring"))
        else:
            self.remember_check.setText(self.tr("Remember the key on this computer"))
            self.remember_check.setToolTip(
                self.tr(
                    "No system keyring here: the key would be kept in %1, readable by you only."
                ).replace("%1", keys.description)
            )
        layout.addWidget(self.remember_check)
        if not keys.uses_keyring:
            note = QLabel(
                self.tr("No system keyring: a remembered key goes to a file only you can read."),
                self,
            )
            note.setObjectName("keyring-note")
            note.setWordWrap(True)
            note.setEnabled(False)
            layout.addWidget(note)
        self.status = PlainLabel("", self)
        self.status.setObjectName("login-status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(self)
        self.connect_button = buttons.addButton(
            self.tr("&Connect"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.connect_button.setObjectName("connect")
        self.connect_button.setDefault(True)
        buttons.addButton(self.tr("&Quit"), QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.start_login)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.server_edit.editingFinished.connect(self._server_changed)
        self.ca_edit.textEdited.connect(self._ca_chosen)
        for radio in (self.saved_radio, self.file_radio, self.tofu_radio):
            radio.clicked.connect(self._trust_clicked)
        self._server_changed()
        if ca_file:
            self.file_radio.setChecked(True)
        self.resize(self.fontMetrics().height() * 30, self.sizeHint().height())
        (self.key_edit if not self.key_edit.text() else self.connect_button).setFocus()

    # --- the form ---

    def _server_key(self) -> str | None:
        try:
            return str(ServerAddress.parse(self.server_edit.text()))
        except ValueError:
            return None

    def _ca_chosen(self, *_: object) -> None:
        self._ca_prefilled = False
        self._trust_chosen = True
        self.file_radio.setChecked(True)

    def _trust_clicked(self) -> None:
        self._trust_chosen = True

    def _prefill_ca(self, server: str | None) -> None:
        """``./certs/ca.pem`` in the CA field for a local server only (issue 10, item 9)."""
        local = server is not None and is_local(ServerAddress.parse(server))
        if local and not self.ca_edit.text() and DEFAULT_CA_FILE.is_file():
            self.ca_edit.setText(str(DEFAULT_CA_FILE.resolve()))
            self._ca_prefilled = True
        elif not local and self._ca_prefilled:
            self.ca_edit.clear()
            self._ca_prefilled = False

    def _server_changed(self) -> None:
        server = self._server_key()
        self._prefill_ca(server)
        trusted = self.settings.trusted(server) if server else None
        self.saved_radio.setVisible(trusted is not None)
        if trusted is not None:
            self.saved_radio.setText(
                self.tr("Already trusted (fingerprint %1…)").replace("%1", trusted.fingerprint[:23])
            )
        if trusted is not None and not self._trust_chosen:
            self.saved_radio.setChecked(True)
        elif (
            not self._trust_chosen
            or (self.saved_radio.isChecked() and trusted is None)
            or not any(r.isChecked() for r in (self.saved_radio, self.file_radio, self.tofu_radio))
        ):
            (self.file_radio if self.ca_edit.text() else self.tofu_radio).setChecked(True)
        if server and not self.key_edit.text():
            remembered = self.keys.get(self.kind, server)
            if remembered:
                self.key_edit.setText(remembered)

    def _browse(self) -> None:
        dialog = QFileDialog(self, self.tr("The server's CA certificate"))
        dialog.setNameFilters([self.tr("Certificates (*.pem *.crt)"), self.tr("All files (*)")])
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)

        def chosen(path: str) -> None:
            self.ca_edit.setText(path)
            self._ca_chosen()

        dialog.fileSelected.connect(chosen)
        dialog.open()

    def _fail(self, text: str, field: QWidget | None = None) -> None:
        """Say what failed; the focus goes to the field to correct (the key by default),
        its text selected, so that typing replaces it (and Return does not resend it)."""
        self.status.setText(text)
        self.status.setAccessibleName(text)
        self._focus_after = field or self.key_edit

    def _focus_field(self) -> None:
        field = self._focus_after
        if field is None or not field.isEnabled():
            return
        field.setFocus(Qt.FocusReason.OtherFocusReason)
        if isinstance(field, QLineEdit):
            field.selectAll()

    def _set_busy(self, busy: bool) -> None:
        for widget in (
            self.server_edit,
            self.key_edit,
            self.ca_edit,
            self.connect_button,
            self.saved_radio,
            self.file_radio,
            self.tofu_radio,
        ):
            widget.setEnabled(not busy)
        if busy:
            self.status.setText(self.tr("Connecting…"))

    # --- logging in ---

    def start_login(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.ensure_future(self._login())

    async def _login(self) -> None:
        self._focus_after = None
        try:
            address = ServerAddress.parse(self.server_edit.text())
        except ValueError:
            self._fail(self.tr("The server address is not valid (host:port)."), self.server_edit)
            self._focus_field()
            return
        key = self.key_edit.text().strip()
        if not key:
            self._fail(self.tr("Enter your API key."))
            self._focus_field()
            return
        self._set_busy(True)
        try:
            await self._login_to(address, key)
        finally:
            self._set_busy(False)
            if self.user is None:
                self._focus_field()  # disabling the form while busy lost it
            else:
                self.status.setText("")

    async def _system_trusted_session(self, address: ServerAddress, key: str) -> User | None:
        """Log in if the system's authorities verify the server (a public certificate).

        None when they do not: nothing was sent, trust on first use follows.
        """
        try:
            return await self.service.open_session(address, "", key)
        except CertificateChanged:
            return None

    async def _login_to(self, address: ServerAddress, key: str) -> None:
        server = str(address)
        trusted = self.settings.trusted(server)
        user: User | None = None
        try:
            if self.saved_radio.isChecked() and trusted is not None:
                pem = trusted.pem
            elif self.file_radio.isChecked():
                path = self.ca_edit.text().strip()
                try:
                    pem = _read_ca(path)
                except (OSError, UnicodeDecodeError):
                    self._fail(
                        self.tr("Cannot read the CA file %1.").replace("%1", path), self.ca_edit
                    )
                    return
                fingerprint_of_pem(pem)  # TrustError when it is not a certificate
            else:
                pem = ""  # no CA pinned: the system's authorities may vouch for it
                user = await self._system_trusted_session(address, key)
            if user is None and not pem:
                self.status.setText(self.tr("Fetching the server's certificate…"))
                offer = await self.service.fetch_certificate(address)
                dialog = FingerprintDialog(offer, self)
                self.fingerprint_dialog = dialog
                try:
                    accepted = await await_dialog(dialog)
                finally:
                    self.fingerprint_dialog = None
                    dialog.deleteLater()
                if not accepted:
                    self._fail(self.tr("Certificate not trusted: nothing was sent."))
                    return
                pem = offer.pem
            if user is None:
                user = await self.service.open_session(address, pem, key)
        except CertificateChanged:
            self._fail(
                self.tr(
                    "The server's certificate was not issued by this authority: the key was "
                    "not sent. If the server's certificates were regenerated, choose to fetch "
                    "the certificate and check its new fingerprint."
                )
            )
            return
        except TrustError:
            self._fail(self.tr("This is not a usable CA certificate."), self.ca_edit)
            return
        except ConnectionLost:
            self._fail(offline_message(Action.LOGIN), self.server_edit)
            return
        except StatusError as error:
            self._fail(describe_status(error.code, Action.LOGIN, error.body))
            return
        if not role_allowed(self.kind, user.role):
            with contextlib.suppress(Exception):
                await self.service.close()
            if user.role == "client":
                self._fail(self.tr("This key is a customer's: open Tchatator (customer app)."))
            else:
                self._fail(self.tr("This key is a professional's: open Tchatator Pro."))
            return
        self.settings.set_last_server(self.kind, server)
        if pem:  # empty: the system's authorities vouched for the server
            self.settings.set_trusted(server, TrustedServer(pem, fingerprint_of_pem(pem)))
        remember = self.remember_check.isChecked()
        self.settings.set_remember_key(self.kind, remember)
        self.settings.save()
        try:
            if remember:
                self.keys.set(self.kind, server, key)
            else:
                self.keys.delete(self.kind, server)
        except OSError:
            pass  # not remembering a key must never stop a login
        self.user = user
        self.accept()
