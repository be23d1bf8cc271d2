"""The desktop apps as a professional or a customer installs them (Linux).

``make bundles debs`` builds the PyInstaller onedir bundles and a ``.deb`` per
app (slow: two PyInstaller runs); then each bundle runs its ``--self-test``
against a live server from an environment with no Python on ``PATH``, and
each ``.deb`` is installed into a throwaway root whose launcher runs it again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .packaging_support import PACKAGING, clean_environment, run
from .support import ROOT, ServerProcess

pytestmark = [
    pytest.mark.slow,
    # The first test pays for the build (two PyInstaller runs, minutes on 2 busy cores).
    pytest.mark.timeout(1200),
    pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb missing (.ci/run)"),
]
APPS = {"pro": "tchatator-pro", "client": "tchatator-client"}
FRENCH_WRONG_KEY = "Cette clé d'API"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    out = tmp_path_factory.mktemp("bundles")
    started = time.monotonic()
    run(
        [
            "make",
            "--no-print-directory",
            "bundles",
            "debs",
            f"BUNDLES={out / 'bundles'}",
            f"ICONS={out / 'icons'}",
            f"PYI_WORK={out / 'work'}",
            f"DEBS={out / 'debs'}",
        ],
        cwd=ROOT,
        timeout=900,
    )
    print(f"make bundles debs: {time.monotonic() - started:.0f} s")
    for name in APPS.values():
        size = run(["du", "-sm", str(out / "bundles" / name)]).stdout.split()[0]
        print(f"{name}: bundle {size} MB")
    for deb in (out / "debs").glob("*.deb"):
        print(f"{deb.name}: {deb.stat().st_size / 1e6:.0f} MB")
    yield {"bundles": out / "bundles", "icons": out / "icons", "debs": out / "debs"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("live")).start()
    yield server
    server.stop()


def self_test(executable: Path, server: ServerProcess, key: str, home: Path):
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            str(executable),
            "--self-test",
            "--server",
            f"127.0.0.1:{server.port}",
            "--ca",
            str(server.ca_file),
            f"--key={key}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
        # A user's session: no venv, no PYTHONPATH; French is the default language.
        env=clean_environment(HOME=str(home), LANG="C.UTF-8", QT_QPA_PLATFORM="offscreen"),
    )


@pytest.mark.parametrize("kind", list(APPS))
def test_bundle_self_test_without_python(built, live, kind, tmp_path) -> None:
    name = APPS[kind]
    bundle = built["bundles"] / name
    executable = bundle / name
    assert executable.is_file() and os.access(executable, os.X_OK)
    # The translations and Qt's own French catalogue travel with the bundle.
    assert list(bundle.rglob("tchatator_fr.qm")) and list(bundle.rglob("qtbase_fr.qm"))
    # Trimmed: no QML, no web, no SQL drivers, no GTK theme.
    for unused in ("libQt6Qml", "libQt6Quick", "libQt6Network", "libqgtk3"):
        assert not list(bundle.rglob(f"{unused}*")), unused
    user = live.add_user(kind, f"Bundle {kind}")
    good = self_test(executable, live, user["api_key"], tmp_path / "home")
    assert good.returncode == 0, good.stderr
    assert "self-test OK" in good.stdout and f"Bundle {kind}" in good.stdout
    wrong = self_test(executable, live, "not-a-key-at-all", tmp_path / "home")
    assert wrong.returncode == 1, wrong.stderr
    assert FRENCH_WRONG_KEY in wrong.stderr, wrong.stderr


def test_icons_and_menu_entries(built) -> None:
    for name in APPS.values():
        for suffix in (".png", ".ico", ".icns"):
            assert (built["icons"] / f"{name}{suffix}").stat().st_size > 1000
        entry = PACKAGING / f"{name}.desktop"
        run(["desktop-file-validate", str(entry)])
        text = entry.read_text()
        assert "Name=" in text and "Name[fr]=" in text and "GenericName[fr]=" in text


@pytest.mark.parametrize("kind", list(APPS))
def test_deb_installs_and_its_launcher_runs(built, live, kind, tmp_path) -> None:
    name = APPS[kind]
    (deb,) = built["debs"].glob(f"{name}_*.deb")
    info = run(["dpkg-deb", "--info", str(deb)]).stdout
    assert f"Package: {name}" in info and "libxcb-cursor0" in info
    contents = run(["dpkg-deb", "--contents", str(deb)]).stdout
    for path in (
        f"./opt/{name}/{name}",
        f"./usr/bin/{name}",
        f"./usr/share/applications/{name}.desktop",
        f"./usr/share/icons/hicolor/256x256/apps/{name}.png",
    ):
        assert path in contents, path
    # A throwaway root with an empty dpkg database (its libraries are the host's).
    root = tmp_path / "root"
    for folder in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"):
        (root / folder).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    run(["dpkg", f"--root={root}", "--force-depends", "--install", str(deb)])
    listed = run(["dpkg", f"--root={root}", "--status", name]).stdout
    assert "Status: install ok installed" in listed
    run(["desktop-file-validate", str(root / f"usr/share/applications/{name}.desktop")])
    # Readable and runnable by every user, whatever umask it was built under.
    for installed in (root / "opt" / name / name, root / "usr" / "bin" / name):
        assert installed.stat().st_mode & 0o755 == 0o755, installed
    launcher = root / "usr" / "bin" / name
    user = live.add_user(kind, f"Deb {kind}")
    done = self_test(launcher, live, user["api_key"], tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "self-test OK" in done.stdout
    run(["dpkg", f"--root={root}", "--force-depends", "--purge", name])
    assert not (root / "opt" / name).exists()
