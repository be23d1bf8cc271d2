"""The server as an operator installs it: wheel and sdist, pipx, no Qt.

Slow (a fresh environment is installed from the registry's cache): marked
``slow``, run by ``make test`` and CI all the same.
"""

from __future__ import annotations

import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from .packaging_support import PACKAGING, clean_environment, run
from .support import ADMIN_KEY, ROOT, ServerProcess


@pytest.mark.slow
def test_wheel_and_sdist_install_a_server_without_qt(tmp_path: Path) -> None:
    # The README's command, as an operator types it in a checkout.
    dist = tmp_path / "dist"
    run(["python3.11", "-m", "venv", str(tmp_path / "tools")])
    run([str(tmp_path / "tools/bin/pip"), "install", "-q", "build", "pipx"])
    run([str(tmp_path / "tools/bin/python"), "-m", "build", "--outdir", str(dist), str(ROOT)])
    (wheel,) = dist.glob("tchatator-*-py3-none-any.whl")
    (sdist,) = dist.glob("tchatator-*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    assert "server/storage/migrations/env.py" in names
    assert "desktop/i18n/tchatator_fr.qm" in names
    assert not any(name.startswith("tests/") for name in names)
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(name for name in names if name.endswith(".dist-info/METADATA")))
        .decode()
    )
    # Qt only comes with the desktop extra.
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for line in requires:
        if "PySide6" in line:
            assert 'extra == "desktop"' in line, line
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(name.endswith("packaging/tchatator.service") for name in members)
    assert any(name.endswith("packaging/constraints-server.txt") for name in members)

    # pipx, as the README says, pinned by the constraints file.
    home = tmp_path / "pipx"
    environment = clean_environment(
        PIPX_HOME=str(home), PIPX_BIN_DIR=str(home / "bin"), PIPX_MAN_DIR=str(home / "man")
    )
    run(
        [
            str(tmp_path / "tools/bin/pipx"),
            "install",
            "--pip-args=-c " + str(PACKAGING / "constraints-server.txt"),
            f"{wheel}[postgres]",
        ],
        env=environment,
    )
    server_bin = home / "bin" / "tchatator-server"
    assert server_bin.exists()
    venv_python = home / "venvs" / "tchatator" / "bin" / "python"
    no_qt = subprocess.run(
        [str(venv_python), "-c", "import PySide6"], capture_output=True, text=True, cwd=tmp_path
    )
    assert no_qt.returncode != 0 and "No module named 'PySide6'" in no_qt.stderr
    has_pg = subprocess.run([str(venv_python), "-c", "import psycopg"], cwd=tmp_path)
    assert has_pg.returncode == 0

    # The installed server starts from its own files and answers over real TLS.
    server = ServerProcess(tmp_path / "srv", command=[str(server_bin)]).start()
    try:
        with server.connect() as line:
            reply = line.ask(f"/connexion {ADMIN_KEY}")
            assert reply.code == 200 and reply.body["user"]["role"] == "admin"
    finally:
        assert server.stop() == 0
    check = run([str(server_bin), "--config", str(server.config), "check"], env=environment)
    assert "ok" in check.stdout.lower()
