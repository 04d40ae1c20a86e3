"""`--baseline REV`: a previous commit's gateway, measured next to the current one in one run.

REV is checked out in a temporary detached `git worktree`; its gateway (`python -m bench.serve
gateway ...` with the worktree as cwd and first on PYTHONPATH, the same venv interpreter) is
started like the `gateway` target and named `gateway@<short rev>`. The worktree is removed at the
end, also after an error, Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.procs import child_env

_REPO = Path(__file__).resolve().parents[1]
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@dataclass(frozen=True, slots=True)
class Baseline:
    rev: str  # as given
    commit: str  # full hash
    tree: Path  # the temporary worktree

    @property
    def name(self) -> str:
        return f"gateway@{self.rev_short}"

    @property
    def rev_short(self) -> str:
        return self.commit[:7]


def _git(*args: str, timeout_s: float = 120.0) -> str:
    out = subprocess.run(
        ["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


def _check_imports(tree: Path) -> None:
    """The worktree's `gateway` and `bench.serve` are the ones its children will import."""
    code = "import bench.serve, gateway; print(bench.serve.__file__); print(gateway.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree,
        env=child_env(str(tree)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    paths = out.stdout.split()
    if out.returncode != 0 or len(paths) != 2:
        raise RuntimeError(f"the baseline tree {tree} does not import: {out.stderr[-2000:]}")
    for path in paths:
        if not Path(path).resolve().is_relative_to(tree.resolve()):
            raise RuntimeError(f"the baseline would import {path}, not its own tree {tree}")


def _remove(tree: Path) -> None:
    """Remove the worktree (untracked files too: the gateway's ledger) and its git metadata."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # a 2nd Ctrl-C waits for this
    try:
        with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
            _git("worktree", "remove", "--force", str(tree), timeout_s=60)
        shutil.rmtree(tree, ignore_errors=True)
        with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
            _git("worktree", "prune", timeout_s=60)
        if tree.exists():
            print(f"warning: could not remove the baseline worktree {tree}", file=sys.stderr)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Baseline]:
    """A detached worktree of `rev` in a temporary folder, for as long as the block runs."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tree = Path(tempfile.mkdtemp(prefix=f"bench-baseline-{commit[:7]}-"))
    try:
        print(f"checking out {rev} ({commit[:7]}) in {tree} ...", flush=True)
        _git("worktree", "add", "--detach", str(tree), commit)
        _check_imports(tree)
        yield Baseline(rev, commit, tree)
    finally:
        _remove(tree)
