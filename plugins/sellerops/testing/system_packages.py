"""Make a Debian system package available to a test (Dovecot for IMAP, later Chromium).

``ensure_debian_package("/usr/sbin/dovecot", "dovecot-imapd")`` returns the path
when the binary is already there. Otherwise, when running as root on a Debian
system, it runs ``apt-get install -y <package>`` (first ``apt-get update`` when
the package lists are empty, and once more after a failed install, in case the
lists were stale) and returns the path. When it cannot (not root, no apt-get,
the install failed) it raises :class:`SystemPackageUnavailable` with a message
that says how to install the package by hand.

Tests call :func:`require_debian_package`, which turns that error into a skip
locally and into a failure when ``CI`` is true: on CI a missing system package
is a broken build, not an optional extra.

Concurrent callers (pytest-xdist workers, two test modules) are serialised
with a lock file, and apt itself waits for the dpkg lock instead of failing.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

APT_LISTS = Path("/var/lib/apt/lists")
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_STALE_LISTS = re.compile(r"Unable to locate package|has no installation candidate|404\s+Not Found")
_LOCK_FILE = Path(tempfile.gettempdir()) / "sellerops-apt-get.lock"


class SystemPackageUnavailable(RuntimeError):
    """The binary is missing and the package could not be installed."""


def in_ci() -> bool:
    """True when the environment variable ``CI`` says we run on continuous integration."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _have_package_lists() -> bool:
    try:
        return any(
            p.name.endswith("_Packages") or "_Packages." in p.name for p in APT_LISTS.iterdir()
        )
    except OSError:
        return False


@contextmanager
def _apt_lock() -> Iterator[None]:
    with open(_LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _apt_get(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    command = [
        "apt-get",
        "-o",
        "DPkg::Lock::Timeout=600",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
        *args,
    ]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log.info("running %s", " ".join(command))
    try:
        return subprocess.run(  # fixed program, validated package name
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SystemPackageUnavailable(
            f"{' '.join(command)} timed out after {timeout:.0f} s"
        ) from exc


def _tail(result: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    text = (result.stdout or "") + (result.stderr or "")
    return "\n".join(text.strip().splitlines()[-lines:])


def ensure_debian_package(
    binary_path: str | os.PathLike[str],
    package: str,
    *,
    timeout: float = 900.0,
) -> Path:
    """Return ``binary_path``, installing the Debian ``package`` that provides it if needed.

    Raises :class:`SystemPackageUnavailable` when the binary is missing and the
    package cannot be installed here.
    """
    path = Path(binary_path)
    if _is_executable(path):
        return path
    if not _PACKAGE_NAME.match(package):
        raise ValueError(f"not a Debian package name: {package!r}")
    hint = f"install it with: sudo apt-get install -y {package}"
    if shutil.which("apt-get") is None:
        raise SystemPackageUnavailable(f"{path} is missing and there is no apt-get; {hint}")
    if os.geteuid() != 0:
        raise SystemPackageUnavailable(f"{path} is missing and this is not root; {hint}")
    with _apt_lock():
        if _is_executable(path):  # another worker installed it while we waited
            return path
        if not _have_package_lists():
            update = _apt_get(["update"], timeout)
            if update.returncode != 0:
                raise SystemPackageUnavailable(
                    f"apt-get update failed (exit {update.returncode}):\n{_tail(update)}"
                )
        install = _apt_get(["install", "-y", "--no-install-recommends", package], timeout)
        if install.returncode != 0 and _STALE_LISTS.search(install.stdout + install.stderr):
            _apt_get(["update"], timeout)
            install = _apt_get(["install", "-y", "--no-install-recommends", package], timeout)
        if install.returncode != 0:
            raise SystemPackageUnavailable(
                f"apt-get install -y {package} failed (exit {install.returncode}):\n{_tail(install)}"
            )
    if not _is_executable(path):
        raise SystemPackageUnavailable(f"installed {package} but {path} is still missing")
    log.info("installed %s (%s)", package, path)
    return path


def require_debian_package(
    binary_path: str | os.PathLike[str],
    package: str,
    *,
    timeout: float = 900.0,
) -> Path:
    """For tests: :func:`ensure_debian_package`, else skip (locally) or fail (``CI=true``)."""
    import pytest

    try:
        return ensure_debian_package(binary_path, package, timeout=timeout)
    except SystemPackageUnavailable as exc:
        message = f"{package} is not available: {exc}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    raise AssertionError("unreachable")  # pragma: no cover - skip/fail raise
