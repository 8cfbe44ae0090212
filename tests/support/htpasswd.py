"""An htpasswd file for the registry's `auth: htpasswd` mode, which accepts bcrypt hashes only.

No bcrypt package is installed; the system's libcrypt (libxcrypt, part of every Debian base
system) computes `$2b$` hashes, so it is called through ctypes. Apache's `htpasswd -B` is used
when libcrypt cannot be loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_COST = 4  # the lowest bcrypt cost: fast tests, and the registry accepts it


def _libcrypt_bcrypt(password: str) -> str | None:
    name = ctypes.util.find_library("crypt")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    # 22 salt characters; the last must carry only 4 significant bits (one of ".Oeu").
    salt = "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(21)) + secrets.choice(".Oeu")
    result = lib.crypt(password.encode(), f"$2b${_COST:02d}${salt}".encode())
    if not result or not result.startswith(b"$2b$"):
        return None
    return str(result.decode("ascii"))


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash of `password` the registry's Go bcrypt accepts."""
    hashed = _libcrypt_bcrypt(password)
    if hashed is not None:
        return hashed
    if shutil.which("htpasswd"):
        proc = subprocess.run(
            ["htpasswd", "-nbBC", str(_COST), "user", password],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return proc.stdout.strip().split(":", 1)[1]
    raise RuntimeError("cannot make bcrypt hashes: neither libcrypt nor htpasswd is available")


def write_htpasswd(path: Path, users: Mapping[str, str]) -> Path:
    """Write `user:bcrypt` lines for every user; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{user}:{bcrypt_hash(pw)}\n" for user, pw in users.items()))
    return path
