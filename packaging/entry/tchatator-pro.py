"""PyInstaller entry point of the pro app (packaging/tchatator-pro.spec)."""

import sys

from desktop.app import main_pro

sys.exit(main_pro())
