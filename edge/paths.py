"""Paths the user names: folders a command creates or writes into, and names of folders inside them."""
from __future__ import annotations

from pathlib import Path

from edge.errors import ConfigError


def is_folder_name(name: str) -> bool:
    """True for one plain folder name: no separator, not '', '.' or '..', no control character."""
    return (Path(name).name == name and "\\" not in name and name not in ("", ".", "..")
            and name.isprintable())


def child_folder(parent: str | Path, name: str, key: str, hint: str) -> Path:
    """``parent / name``, where ``name`` (the value of config key or option ``key``) must be one folder
    name, so that nothing is written outside ``parent``; else a ``ConfigError`` ending with ``hint``."""
    if not is_folder_name(name):
        raise ConfigError(f"{key}={name!r} must be one folder name inside {parent} (no '/', '\\', '..' or "
                          f"control characters); {hint}")
    return Path(parent) / name


def output_folder(path: str | Path, option: str) -> Path:
    """``path`` as a folder to write into, created when missing; a ``ConfigError`` naming ``option``
    when it, or a folder above it, is an existing file."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        where = "it is" if path.exists() else "a folder above it is"
        raise ConfigError(f"{option} {path} cannot be a folder: {where} an existing file; give a folder path "
                          f"(it is created when missing)") from None
    return path


def require_file_path(path: str | Path, option: str) -> None:
    """``ConfigError`` naming ``option`` when ``path``, a file to write, is an existing folder: found before
    a long run, not when its result is written."""
    if Path(path).is_dir():
        raise ConfigError(f"{option} {path} is a folder: give a file path to write")
