"""The desktop apps as a professional or a customer installs them (Linux).

``make bundles debs`` builds the PyInstaller onedir bundles and a ``.deb`` per
app (slow: two PyInstaller runs); then each bundle runs its ``--self-test``
against a live server from an environment with no Python on ``PATH``, and
each ``.deb`` is installed into a throwaway root whose launcher runs it again,
then with apt on a bare Debian bookworm (a container of the debootstrap base,
entered with ``chroot``), where apt must bring every library the bundle needs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .packaging_support import (
    CACHE,
    PACKAGING,
    bookworm_base,
    clean_environment,
    machine_lock,
    mounted_container,
    run,
)
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
    # Depends: computed from the bundle (packaging/build_deb.sh); what it must hold is
    # proved by test_deb_apt_installs_on_bare_bookworm_and_runs.
    assert f"Package: {name}" in info and "libc6 (>= 2." in info and "libgl1" in info
    contents = run(["dpkg-deb", "--contents", str(deb)]).stdout
    for path in (
        f"./opt/{name}/{name}",
        f"./usr/bin/{name}",
        f"./usr/share/applications/{name}.desktop",
        f"./usr/share/icons/hicolor/256x256/apps/{name}.png",
    ):
        assert path in contents, path
    # A throwaway root with an empty dpkg database (its libraries are the host's; the
    # bare bookworm below has only what the package pulls).
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


# --- apt install on a bare bookworm ---------------------------------------------------------

MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Qt modules bundle_spec.py trims: the few plugins linked to them never load, whatever
# the system has (EGL-only wayland buffers, the adwaita decorations, eglfs).
TRIMMED = re.compile(r"^libQt6(OpenGL|Svg)\.so")
# Every ELF file of the bundle, with the library path the PyInstaller bootloader gives it.
LDD_ALL = r"""
bundle=$1
export LD_LIBRARY_PATH=$bundle/_internal:$bundle/_internal/PySide6/Qt/lib
find "$bundle" -type f | while read -r file; do
  [ "$(head -c4 "$file" | od -An -c | tr -d ' ')" = 177ELF ] || continue
  ldd "$file" 2>&1 | sed -n "s|^[[:space:]]*\([^ ]*\) => not found|$file \1|p"
done
"""


@pytest.fixture(scope="module")
def bookworm() -> str:
    if os.geteuid() != 0 or shutil.which("podman") is None:
        pytest.skip("needs podman and root (.ci/run installs podman and debootstrap)")
    # apt resolves the package's Depends from Debian's mirror: without it, no proof.
    try:
        urllib.request.urlopen(f"{MIRROR}/dists/bookworm/Release", timeout=20).close()
    except OSError as error:
        pytest.fail(
            f"Debian's mirror {MIRROR} is unreachable ({error}): this test installs "
            "the .deb with apt on a bare bookworm and needs the network",
            pytrace=False,
        )
    return bookworm_base()


def _chroot(root: Path, *command: str, timeout: float = 600, **env: str):
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    environment.update(env)
    return subprocess.run(
        [shutil.which("chroot") or "/usr/sbin/chroot", str(root), *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


@pytest.mark.parametrize("kind", list(APPS))
def test_deb_apt_installs_on_bare_bookworm_and_runs(bookworm, built, live, kind) -> None:
    """A user's ``apt install ./tchatator-pro_*.deb`` on a fresh bookworm: apt pulls what
    the bundle lacks (and only that), and the app starts."""
    name = APPS[kind]
    (deb,) = built["debs"].glob(f"{name}_*.deb")
    apt_cache = CACHE / "bookworm-apt"  # lists and downloads, kept between runs
    for folder in ("lists/partial", "archives/partial"):
        (apt_cache / folder).mkdir(parents=True, exist_ok=True)
    binds = {
        "/var/lib/apt/lists": apt_cache / "lists",
        "/var/cache/apt/archives": apt_cache / "archives",
    }
    with mounted_container(bookworm, binds) as root:
        shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
        shutil.copy(deb, root / "tmp" / deb.name)
        shutil.copy(live.ca_file, root / "tmp/ca.pem")
        (root / "tmp/ldd-all.sh").write_text(LDD_ALL)
        apt = ["apt-get", "-q", "-o", "Acquire::Languages=none"]
        started = time.monotonic()
        with machine_lock("bookworm-apt"):  # the cache is shared by every run on the machine
            update = _chroot(root, *apt, "update")
            assert (
                update.returncode == 0 and "Failed to fetch" not in update.stdout + update.stderr
            ), f"apt-get update from {MIRROR} failed (network?)\n{update.stdout}\n{update.stderr}"
            # Depends alone must be enough: no Recommends.
            install = _chroot(
                root,
                *apt,
                "install",
                "-y",
                "--no-install-recommends",
                f"/tmp/{deb.name}",
                DEBIAN_FRONTEND="noninteractive",
            )
        print(f"apt-get update + install: {time.monotonic() - started:.0f} s")
        assert install.returncode == 0, install.stdout[-3000:] + install.stderr
        print(next((line for line in install.stdout.splitlines() if "newly installed" in line), ""))
        # No library missing for any binary or plugin of the bundle, but the trimmed modules.
        ldd = _chroot(root, "sh", "/tmp/ldd-all.sh", f"/opt/{name}")
        assert ldd.returncode == 0, ldd.stderr
        missing = sorted({line.split()[1] for line in ldd.stdout.splitlines()})
        assert [library for library in missing if not TRIMMED.match(library)] == [], ldd.stdout
        # Nothing pulled that the bundle carries: no Depends ships a library of the bundle's.
        depends = _chroot(root, "dpkg-query", "-W", "-f", "${Depends}", name).stdout
        packages = [part.split()[0] for part in depends.split(",")]
        carried = {path.name for path in (root / "opt" / name).rglob("*.so*")}
        for package in packages:
            listed = _chroot(root, "dpkg", "-L", package).stdout.split()
            both = carried & {Path(path).name for path in listed if ".so" in path}
            assert not both, f"{package} duplicates what the bundle carries: {both}"
        # The installed app, as the user runs it (offscreen), against the live server.
        user = live.add_user(kind, f"Bookworm {kind}")
        done = _chroot(
            root,
            name,
            "--self-test",
            "--server",
            f"127.0.0.1:{live.port}",
            "--ca",
            "/tmp/ca.pem",
            f"--key={user['api_key']}",
            timeout=120,
            QT_QPA_PLATFORM="offscreen",
        )
        assert done.returncode == 0, done.stderr
        assert "self-test OK" in done.stdout and f"Bookworm {kind}" in done.stdout
        # Fonts and their configuration (fontconfig-config): without them, "Fontconfig
        # error: Cannot load default config file" and no text in the window.
        assert "Fontconfig" not in done.stderr and "QFontDatabase" not in done.stderr, done.stderr
        # A desktop's platforms: each plugin loads its libraries and gets as far as looking
        # for its display server (none here), rather than failing to load.
        for platform, reached in (
            ("xcb", "could not connect to display"),
            ("wayland", "Failed to create wl_display"),
        ):
            tried = _chroot(
                root,
                name,
                "--self-test",
                "--server",
                "127.0.0.1:1",
                "--key=x",
                timeout=120,
                QT_QPA_PLATFORM=platform,
                DISPLAY=":4242",
                WAYLAND_DISPLAY="wayland-4242",
                XDG_RUNTIME_DIR="/tmp",
            )
            assert reached in tried.stderr, f"{platform}: {tried.stderr}"
