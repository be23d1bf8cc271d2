"""The systemd unit (packaging/tchatator.service) and what it relies on in the server.

systemd is not PID 1 here: the unit is checked with ``systemd-analyze verify``
(in a throwaway root holding the system's units and the unit's executables)
and ``systemd-analyze security --offline=true``; what the hardening demands of
the process (no writable-executable memory) is tried on a real server.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .packaging_support import PACKAGING
from .support import ADMIN_KEY, ServerProcess

UNIT = PACKAGING / "tchatator.service"
MAX_EXPOSURE = 2.0
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze missing (.ci/run installs it)"
)


def _verify_root(tmp_path: Path, unit_text: str) -> Path:
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for line in unit_text.splitlines():
        match = re.match(r"Exec\w+=[-@!+:]*(/\S+)", line)
        if match:
            executable = root / match.group(1).lstrip("/")
            executable.parent.mkdir(parents=True, exist_ok=True)
            executable.write_text("#!/bin/sh\n")
            executable.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/tchatator.service").write_text(unit_text)
    return root


def _verify(tmp_path: Path, unit_text: str) -> subprocess.CompletedProcess[str]:
    root = _verify_root(tmp_path, unit_text)
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "tchatator.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_systemd_analyze
def test_unit_verifies_clean(tmp_path: Path) -> None:
    text = UNIT.read_text()
    done = _verify(tmp_path / "good", text)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    # The check is not vacuous: a misspelt directive is reported.
    broken = _verify(tmp_path / "bad", text.replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key" in broken.stderr or broken.returncode != 0, broken.stderr


@needs_systemd_analyze
def test_unit_exposure_at_most_two(tmp_path: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for tchatator\.service: ([\d.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    exposure = float(match.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE, done.stdout
    text = UNIT.read_text()
    for directive in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "MemoryDenyWriteExecute=yes",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "StateDirectory=tchatator",
        "ConfigurationDirectory=tchatator",
        "LogsDirectory=tchatator",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert directive in text, directive


def _deny_write_execute() -> None:
    """In the child: what MemoryDenyWriteExecute=yes imposes (kernel >= 6.3)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_MDWE")


def _kernel_has_mdwe() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "pass"], preexec_fn=_deny_write_execute, capture_output=True
    )
    return probe.returncode == 0


def test_server_runs_as_the_unit_runs_it(tmp_path: Path, monkeypatch) -> None:
    """No W+X memory, the admin key from a credential file, SIGHUP reloads."""
    if not _kernel_has_mdwe():
        pytest.skip("this kernel has no PR_SET_MDWE")
    credential = tmp_path / "credentials" / "admin.key"
    credential.parent.mkdir()
    credential.write_text("credential-admin-key-0123456789-abcdefgh\n")
    credential.chmod(0o400)
    monkeypatch.setenv("TCHATATOR_ADMIN_KEY_FILE", str(credential))
    server = ServerProcess(tmp_path / "srv", admin_api_key="")
    original = subprocess.Popen

    def popen_without_wx(*args, **kwargs):  # the unit's MemoryDenyWriteExecute
        parent_hook = kwargs.get("preexec_fn")

        def both() -> None:
            if parent_hook:
                parent_hook()
            _deny_write_execute()

        kwargs["preexec_fn"] = both
        return original(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen_without_wx)
    server.start()
    monkeypatch.setattr(subprocess, "Popen", original)
    try:
        with server.connect() as line:
            assert line.ask(f"/connexion {ADMIN_KEY}").code == 401
            line.login("credential-admin-key-0123456789-abcdefgh")
            assert not any("Admin key generated" in out for out in server.output)
            server.rewrite_config(max_messages=7)
            server.process.send_signal(signal.SIGHUP)  # systemctl reload
            deadline = time.monotonic() + 10
            while not any("SIGHUP: reloaded max_messages" in out for out in server.output):
                assert time.monotonic() < deadline, server.output
                time.sleep(0.05)
            assert line.ask("/limites").body["max_messages"] == 7
    finally:
        assert server.stop() == 0


def test_service_configuration_is_valid() -> None:
    from server.config import load_settings

    settings, warnings = load_settings(PACKAGING / "tchatator.toml")
    assert not warnings
    assert settings.data_dir == Path("/var/lib/tchatator")
    assert settings.database_url == "sqlite:////var/lib/tchatator/tchatator.db"
    assert settings.log_file.parent == Path("/var/log/tchatator")
    unit = UNIT.read_text()
    assert "--config /etc/tchatator/tchatator.toml" in unit
    assert (
        "User=tchatator" in unit and "u tchatator" in (PACKAGING / "tchatator.sysusers").read_text()
    )
