"""Draw the apps' icons (desktop/icon.py) into the files the bundles need.

    python packaging/make_icons.py OUTDIR

writes ``tchatator-pro.png`` / ``tchatator-client.png`` (256 px, for the
``.desktop`` entries and the ``.deb``), ``.ico`` (Windows, 16-256 px) and
``.icns`` (macOS) for each app. The icon is drawn by the code at run time;
these files are made from the same drawing, so nothing goes out of date.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]
APPS = {"tchatator-pro": "pro", "tchatator-client": "client"}


def main(out: Path) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from desktop.icon import app_icon

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)
    for name, kind in APPS.items():
        png = out / f"{name}.png"
        if not app_icon(kind).pixmap(512, 512).save(str(png), "PNG"):
            raise SystemExit(f"cannot write {png}")
        image = Image.open(png).convert("RGBA")
        image.resize((256, 256), Image.Resampling.LANCZOS).save(png)
        image.save(out / f"{name}.ico", sizes=ICO_SIZES)
        image.save(out / f"{name}.icns")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/icons")))
