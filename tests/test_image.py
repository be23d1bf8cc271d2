"""The server's container image: it builds, and the server inside answers over TLS.

``make image`` builds it with podman from a wheelhouse, on a Debian bookworm
base made with debootstrap when the machine has none (no registry here).
``podman run`` cannot run in this sandbox (no cgroups), so the image is
mounted and its own server started with ``chroot``, as its user, with
``/data`` and ``/certs`` bind-mounted the way volumes are, the host's
network standing for the published port. Slow (minutes the first time).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from .packaging_support import BOOKWORM, PACKAGING, bookworm_base, mounted_container, run
from .support import ROOT, Line

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(
        shutil.which("podman") is None or os.geteuid() != 0,
        reason="needs podman and root (.ci/run installs podman and debootstrap)",
    ),
]
BASE = BOOKWORM
IMAGE = "localhost/tchatator:test"
UID = 10001
ADMIN = "image-admin-key-0123456789-abcdefghij"


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    return run(["podman", *args], timeout=1200)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bookworm_base()  # once per machine: a minimal bookworm from Debian's mirror
    context = tmp_path_factory.mktemp("image-context")
    started = time.monotonic()
    run(
        [
            "make",
            "--no-print-directory",
            "image",
            f"IMAGE={IMAGE}",
            f"IMAGE_BASE={BASE}",
            f"IMAGE_CONTEXT={context}",
        ],
        cwd=ROOT,
        timeout=1500,
    )
    print(f"make image: {time.monotonic() - started:.0f} s")
    yield IMAGE
    subprocess.run(["podman", "rmi", "-f", IMAGE], capture_output=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_image_builds_and_its_server_answers_tls(image: str, tmp_path: Path) -> None:
    inspect = json.loads(_podman("image", "inspect", image).stdout)[0]
    config = inspect["Config"]
    print(f"image size: {inspect['Size'] / 1e6:.0f} MB")
    assert config["User"] == f"{UID}:{UID}"  # not root
    assert "4242/tcp" in config["ExposedPorts"]
    assert set(config["Volumes"]) == {"/data", "/certs"}
    assert not any("ADMIN_KEY=" in variable for variable in config["Env"])  # no key baked in
    health = inspect.get("Healthcheck") or inspect["Config"].get("Healthcheck")
    assert health and "tchatator" in health["Test"][1] and "/certs/ca.pem" in health["Test"]

    port = _free_port()
    data, certs = tmp_path / "data", tmp_path / "certs"
    for volume in (data, certs):
        volume.mkdir(mode=0o700)
        os.chown(volume, UID, UID)
    settings = tmp_path / "tchatator.toml"  # the image's own file, on another port
    image_settings = (PACKAGING / "container.toml").read_text()
    settings.write_text(re.sub(r"^port = \d+", f"port = {port}", image_settings, flags=re.M))
    settings.chmod(0o644)  # the test process may run under umask 077
    binds = {"/data": data, "/certs": certs, "/etc/tchatator/tchatator.toml": settings}
    with mounted_container(image, binds) as root:
        environment = {
            "PATH": "/opt/tchatator/bin:/usr/bin:/bin",
            "TCHATATOR_CONFIG": "/etc/tchatator/tchatator.toml",
            "TCHATATOR_ADMIN_KEY": ADMIN,  # podman run -e / --secret in real life
            "HOME": "/data",
            "PYTHONUNBUFFERED": "1",
        }
        chroot = [
            shutil.which("chroot") or "/usr/sbin/chroot",
            f"--userspec={UID}:{UID}",
            str(root),
        ]
        # N instances (docs/scaling.md) need the PostgreSQL and Redis clients.
        drivers = subprocess.run(
            [*chroot, "/opt/tchatator/bin/python", "-c", "import psycopg, redis, hiredis"],
            env=environment,
            capture_output=True,
            text=True,
        )
        assert drivers.returncode == 0, drivers.stderr
        server = subprocess.Popen(
            [*chroot, "tchatator-server", "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        output: list[str] = []
        listening = threading.Event()

        def pump() -> None:
            assert server.stdout is not None
            for line in server.stdout:
                output.append(line.rstrip())
                if "listening on" in line:
                    listening.set()
            listening.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            assert listening.wait(60) and server.poll() is None, "\n".join(output)
            assert any("0.0.0.0:" in line for line in output)
            assert not any("Admin key generated" in line for line in output)
            # The CA the server generated in the /certs volume, owned by its user.
            assert (certs / "ca.pem").stat().st_uid == UID
            assert (certs / "server.key").stat().st_mode & 0o077 == 0
            target = SimpleNamespace(
                port=port,
                client_context=lambda: ssl.create_default_context(cafile=str(certs / "ca.pem")),
            )
            with Line(target) as line:  # type: ignore[arg-type]
                reply = line.ask(f"/connexion {ADMIN}")
                assert reply.code == 200 and reply.body["user"]["role"] == "admin"
            # The image's healthcheck, as podman would run it (on this test's port).
            probe = [part.replace(":4242", f":{port}") for part in health["Test"][1:]]
            checked = subprocess.run(
                [*chroot, *probe], capture_output=True, text=True, env=environment, timeout=60
            )
            assert checked.returncode == 0, checked.stderr
            assert "200/OK" in checked.stdout
            assert (data / "tchatator.db").exists()
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                code = server.wait(30)
            finally:
                if server.poll() is None:
                    server.kill()
            reader.join(5)
        assert code == 0, "\n".join(output)
