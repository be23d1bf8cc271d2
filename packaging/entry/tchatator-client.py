"""PyInstaller entry point of the customer app (packaging/tchatator-client.spec)."""

import sys

from desktop.app import main_client

sys.exit(main_client())
