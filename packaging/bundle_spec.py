"""What the two PyInstaller specs share (tchatator-pro.spec, tchatator-client.spec).

A onedir bundle per app: the Python code, PySide6 with only the Qt modules
the apps import (QtCore, QtGui, QtWidgets), the platform plugins a desktop
needs, our ``.qm`` catalogues and Qt's own French/English ones, and the icon
(``.ico`` on Windows, ``.icns`` on macOS, from ``make_icons.py``).

TRIM=0 in the environment builds without the trimming (to measure it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The PySide6 modules the apps do not import: left out of the analysis.
UNUSED_QT = [
    "PySide6.QtNetwork",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtSql",
    "PySide6.QtSvg",
    "PySide6.QtSvgWidgets",
    "PySide6.QtTest",
    "PySide6.QtPrintSupport",
    "PySide6.QtDBus",
    "PySide6.QtConcurrent",
    "PySide6.QtHelp",
    "PySide6.QtDesigner",
    "PySide6.QtUiTools",
    "PySide6.QtXml",
    "PySide6.QtPdf",
    "PySide6.QtPdfWidgets",
    "PySide6.QtQuickTest",
]
# Python modules never used by the apps (the server side, tools, tests).
UNUSED_PYTHON = [
    "tkinter",
    "unittest",
    "pydoc",
    "doctest",
    "server",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "psycopg",
    "uvloop",
    "matplotlib",
    "numpy",
    "PIL",
    "pytest",
    "IPython",
]
# Files of the collected Qt we do not need: QML, web, other plugins, other languages.
UNUSED_FILES = (
    "/qml/",
    "Qt6Qml",
    "Qt6Quick",
    "Qt6Pdf",
    "Qt6Network",
    "Qt6OpenGL.",
    "Qt6Svg",
    "Qt6VirtualKeyboard",
    "Qt6EglFs",
    # Image formats and SVG icons: the apps draw their icons and use PNG (built in).
    "/plugins/imageformats/",
    "/plugins/iconengines/",
    # The GTK theme plugin drags GTK, cairo and pango in; the xdg portal theme stays.
    "/plugins/platformthemes/libqgtk3",
    "libgtk-3",
    "libgdk-3",
    "libcairo",
    "libpango",
    "libatk",
    "libharfbuzz",
    "libpixman",
    "/plugins/generic/",
    "/plugins/networkinformation/",
    "/plugins/tls/",
    "/plugins/qmltooling/",
    "/plugins/platforminputcontexts/",
    "/plugins/egldeviceintegrations/",
    "/plugins/platforms/libqvkkhrdisplay",
    "/plugins/platforms/libqeglfs",
    "/plugins/platforms/libqlinuxfb",
    "/plugins/platforms/libqvnc",
    "/wayland-graphics-integration-client/libvulkan-server",
    # CJK codecs of Python: the apps speak UTF-8.
    "_codecs_cn",
    "_codecs_hk",
    "_codecs_jp",
    "_codecs_kr",
    "_codecs_tw",
    "_codecs_iso2022",
)


def _wanted(dest: str) -> bool:
    path = "/" + dest.replace(os.sep, "/")
    if "/translations/" in path:  # Qt's catalogues: French and English only
        name = path.rsplit("/", 1)[-1]
        return name.endswith(("_fr.qm", "_en.qm")) and name.startswith("qtbase")
    return not any(part in path for part in UNUSED_FILES)


def build(kind: str, spec_globals: dict) -> None:
    g = spec_globals
    Analysis, PYZ, EXE, COLLECT = g["Analysis"], g["PYZ"], g["EXE"], g["COLLECT"]
    here = Path(g["SPECPATH"])
    root = here.parent
    name = f"tchatator-{kind}"
    trim = os.environ.get("TRIM", "1") != "0"
    icons = Path(os.environ.get("TCHATATOR_ICONS", root / "build" / "icons"))
    icon = icons / (f"{name}.ico" if sys.platform == "win32" else f"{name}.icns")
    i18n = root / "desktop" / "i18n"
    analysis = Analysis(
        [str(here / "entry" / f"{name}.py")],
        pathex=[str(root)],
        datas=[(str(path), "desktop/i18n") for path in sorted(i18n.glob("*.qm"))],
        hiddenimports=["qasync"],
        excludes=(UNUSED_QT + UNUSED_PYTHON) if trim else [],
        noarchive=False,
    )
    if trim:
        analysis.binaries = [entry for entry in analysis.binaries if _wanted(entry[0])]
        analysis.datas = [entry for entry in analysis.datas if _wanted(entry[0])]
    # Debug symbols (libpython of a source-built Python, the Rust of
    # cryptography) are most of the non-Qt weight; strip them on Linux.
    strip = trim and sys.platform.startswith("linux")
    pyz = PYZ(analysis.pure)
    exe = EXE(
        pyz,
        analysis.scripts,
        [],
        exclude_binaries=True,
        name=name,
        console=False,  # a GUI app on Windows; --self-test still prints on Linux/macOS
        icon=str(icon) if icon.exists() and sys.platform in ("win32", "darwin") else None,
        strip=strip,
        upx=False,
    )
    COLLECT(exe, analysis.binaries, analysis.datas, name=name, strip=strip, upx=False)
    if sys.platform == "darwin":
        g["BUNDLE"](
            exe, name=f"{name}.app", icon=str(icon), bundle_identifier=f"org.tchatator.{kind}"
        )
