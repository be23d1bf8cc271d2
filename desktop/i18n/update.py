"""Refresh the catalogues from the code, then compile them.

    .venv/bin/python -m desktop.i18n.update

``pyside6-lupdate`` adds new source strings to ``tchatator_fr.ts`` (marked
unfinished: translate them in Qt Linguist, ``pyside6-linguist``, or by hand)
and keeps the plural forms of ``tchatator_en.ts``; ``pyside6-lrelease``
writes the ``.qm`` files the apps load. Commit the four files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

I18N_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = I18N_DIR.parent


def _tool(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else (shutil.which(name) or name)


def sources() -> list[str]:
    return sorted(str(path) for path in PACKAGE_DIR.rglob("*.py"))


def lupdate(target: Path, *options: str) -> None:
    subprocess.run([_tool("pyside6-lupdate"), *sources(), "-ts", str(target), *options], check=True)


def main() -> int:
    fr, en = I18N_DIR / "tchatator_fr.ts", I18N_DIR / "tchatator_en.ts"
    lupdate(fr, "-no-obsolete")
    lupdate(en, "-no-obsolete", "-pluralonly")
    subprocess.run([_tool("pyside6-lrelease"), str(fr), str(en)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
