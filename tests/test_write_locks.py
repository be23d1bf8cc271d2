"""Every write job the server and its CLI run declares the locks it takes on
PostgreSQL (``server.storage.commit.write_locks``): an undeclared job takes
none, and could deadlock with a batch writing the same rows in another order
(docs/scaling.md, "Writes in parallel")."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from server.storage.commit import declares_locks

from .support import ROOT

# Where a job is called from -> the module its bare name or ``module.name`` lives in.
ALIASES = {"queries": "server.storage.queries", "rules": "server.rules"}


def _write_jobs() -> list[tuple[str, object]]:
    """(where, function) of every first argument of ``….write(…)`` and ``….run_sync(…)``
    in server/ that names a module-level function."""
    jobs = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        module_name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("write", "run_sync")
                and node.args
            ):
                continue
            receiver = ast.unparse(node.func.value)
            if node.func.attr == "write" and not receiver.endswith("db"):
                continue  # a transport's or a file's write
            job = node.args[0]
            where = f"{Path(path).relative_to(ROOT)}:{node.lineno}"
            if isinstance(job, ast.Attribute) and isinstance(job.value, ast.Name):
                module = importlib.import_module(ALIASES.get(job.value.id, job.value.id))
                jobs.append((where, getattr(module, job.attr)))
            elif isinstance(job, ast.Name):
                module = importlib.import_module(module_name)
                # A closure (the CLI's demo fill) is not a module attribute: skip it
                # here; its own module declares it where it is defined.
                if hasattr(module, job.id):
                    jobs.append((where, getattr(module, job.id)))
            else:
                raise AssertionError(f"{where}: a write job must be a named function")
    return jobs


def test_every_write_job_of_the_server_declares_its_locks() -> None:
    jobs = _write_jobs()
    # The commands, the session sweep and the CLI: if this falls, the scan broke.
    assert len(jobs) >= 15, jobs
    undeclared = [(where, job) for where, job in jobs if not declares_locks(job)]  # type: ignore[arg-type]
    assert undeclared == []
