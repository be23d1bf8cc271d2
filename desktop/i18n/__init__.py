"""Translations: French by default, English available.

Sources are English in the code (``self.tr``, ``QCoreApplication.translate``);
``tchatator_fr.ts`` holds the French, ``tchatator_en.ts`` only the English
plural forms. The compiled ``.qm`` files are committed next to them (see
docs/desktop.md to update them). Qt's own dialogs get ``qtbase_<lang>.qm``
from the Qt installation.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLibraryInfo, QLocale, QTranslator
from PySide6.QtWidgets import QApplication

__all__ = ["I18N_DIR", "LANGUAGES", "current_language", "install_translations"]

I18N_DIR = Path(__file__).resolve().parent
LANGUAGES = ("fr", "en")
_LOCALES = {
    "fr": (QLocale.Language.French, QLocale.Country.France),
    "en": (QLocale.Language.English, QLocale.Country.UnitedKingdom),
}


# What is installed now: switching language removes it first (live switch).
_installed: list[QTranslator] = []
_current = LANGUAGES[0]


def current_language() -> str:
    """The language the interface speaks now (what the Language menu ticks)."""
    return _current


def install_translations(app: QApplication, language: str) -> list[QTranslator]:
    """Load our catalogue and Qt's for ``language`` in place of the ones
    installed before; returns what was installed."""
    global _current
    if language not in LANGUAGES:
        language = LANGUAGES[0]
    while _installed:
        app.removeTranslator(_installed.pop())
    _current = language
    QLocale.setDefault(QLocale(*_LOCALES[language]))
    installed = _installed
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    for name, folder in ((f"qtbase_{language}", qt_dir), (f"tchatator_{language}", str(I18N_DIR))):
        translator = QTranslator(app)
        if translator.load(name, folder):
            app.installTranslator(translator)
            installed.append(translator)
    return list(installed)
