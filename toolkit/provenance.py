"""What a report ran with: the toolkit's version, Python, and the lock the environment was installed from.

``requirements.lock`` (``make lock``) pins every package with its hashes; ``make demo`` and ``make test``
install exactly it. A report records the lock's digest and whether the running environment still matches it,
so two reports with the same digest and ``matches_lock`` were computed by the same code.
"""

from __future__ import annotations

import hashlib
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

LOCK_NAME = "requirements.lock"
# "name==version ; marker \" (uv pip compile's format; hashes follow on continuation lines)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*(.*?))?\s*\\?\s*$")


def lock_path() -> Path:
    """The lock beside the source tree this toolkit was installed from (an editable or repository install)."""
    return Path(__file__).resolve().parent.parent / LOCK_NAME


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path) -> dict[str, str]:
    """``{normalised name: version}`` of the lock's pins that apply to this interpreter and platform."""
    from packaging.markers import Marker

    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line)
        if m and (not m.group(3) or Marker(m.group(3)).evaluate()):
            pins[_normal(m.group(1))] = m.group(2)
    return pins


def environment(lock: Path | None = None) -> dict[str, Any]:
    """The toolkit's version, Python, platform, and the lock: its sha256 and the packages that differ from it.

    ``matches_lock`` is None when no lock is found (the toolkit was installed from a wheel into another
    environment), else whether every pin that applies here is the installed version."""
    from . import __version__

    lock = lock or lock_path()
    info: dict[str, Any] = {
        "toolkit": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
    if not lock.is_file():
        info.update(lock=None, lock_sha256=None, matches_lock=None, differs_from_lock=[])
        return info
    differs = []
    for name, version in sorted(locked_versions(lock).items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            differs.append(f"{name} {installed or 'missing'} (lock: {version})")
    info.update(
        lock=lock.name,
        lock_sha256=hashlib.sha256(lock.read_bytes()).hexdigest(),
        matches_lock=not differs,
        differs_from_lock=differs,
    )
    return info


def summary(info: dict[str, Any]) -> str:
    """One line for a report's footer."""
    text = f"toolkit {info['toolkit']}, Python {info['python']} ({info['platform']})"
    if info.get("lock_sha256") is None:
        return text + "; not installed from the project's lock"
    text += f"; {info['lock']} sha256 {info['lock_sha256'][:12]}"
    if info["matches_lock"]:
        return text + ", environment matches it"
    return (
        text + f", but {len(info['differs_from_lock'])} package(s) differ: " + ", ".join(info["differs_from_lock"][:5])
    )
