"""Private files: what the service keeps on disk is readable by its own user only.

The data folder (the SQLite database with its -wal and -shm files), the keys folder (signing
keys, their index, the PII key) and an uploads folder set apart from them (APP_UPLOAD_DIR) hold lab
results, colours, appeal texts, the audit log, citizens' uploaded materials and the keys that protect
them. Their folders are 0700 and every file in them 0600: each is created so
(`make_private_dir`, `create_private_file`; SQLite gives its -wal and -shm files the mode of the
database file), and `check_private_files` looks again at every start. Outside production a looser
mode is tightened and named in a warning; production refuses to start until an operator fixes it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from app.config import ConfigError, Settings, sqlite_path

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_GROUP_AND_OTHERS = 0o077


def make_private_dir(path: Path) -> None:
    """Create `path`, and each missing folder above it, as 0700 (mkdir's mode reaches the last one only)."""
    missing: list[Path] = []
    folder = Path(path)
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            pass  # another process made it first


def create_private_file(path: Path) -> None:
    """An empty file at `path`, 0600, unless one is there (SQLite opens an empty file as a new database)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass


def write_private_file(path: Path, text: str) -> None:
    """Replace `path` with `text` at once, 0600 from the start: a reader sees the old content or the new."""
    written = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(written, path)


def private_places(settings: Settings) -> tuple[list[Path], list[Path]]:
    """(folders whose whole content is private, single files that are) for these settings: the merchant's
    payment API key is one of them, wherever it is mounted.

    The data folder counts outside production (production keeps nothing there: its database is
    PostgreSQL); the keys folder always. A SQLite database outside the data folder brings its own
    files, never the folder it happens to sit in."""
    folders = [] if settings.production else [Path(settings.data_dir)]
    keys = Path(settings.resolved_keys_dir)
    if not any(_inside(keys, folder) for folder in folders):  # the default keys folder is in the data folder
        folders.append(keys)
    uploads = settings.uploads.dir  # uploaded materials kept on disk elsewhere (encrypted, and private still)
    if settings.uploads.storage == "local" and uploads and not any(_inside(Path(uploads), f) for f in folders):
        folders.append(Path(uploads))
    files: list[Path] = []
    database = sqlite_path(settings.resolved_database_url)
    if database is not None and not any(_inside(database, folder) for folder in folders):
        files = [database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    merchant_key = settings.payments.merchant_key_file  # the payment provider's API key, wherever it is mounted
    if merchant_key and not any(_inside(Path(merchant_key), folder) for folder in folders):
        files.append(Path(merchant_key))
    return folders, files


def loose_modes(settings: Settings) -> list[tuple[Path, int, int]]:
    """(path, its mode, the mode it should have) of every private folder or file that others may read."""
    folders, files = private_places(settings)
    found: list[tuple[Path, int, int]] = []
    for top in folders:
        if not top.is_dir():
            continue
        for folder, _, names in os.walk(top):
            found += _loose(Path(folder))
            for name in names:
                found += _loose(Path(folder) / name)
    for path in files:
        found += _loose(path)
    return found


def check_private_files(settings: Settings) -> list[Path]:
    """At start: tighten (outside production) or refuse (production) every loose mode; returns the paths fixed."""
    loose = loose_modes(settings)
    if not loose:
        return []
    if settings.production:
        listed = ", ".join(f"{path} is {mode:04o}" for path, mode, _ in loose)
        raise ConfigError(f"private files are readable by others ({listed}): the keys folder must be 0700 and "
                          f"every file in it 0600, e.g. chmod -R go= {settings.resolved_keys_dir}")
    for path, mode, wanted in loose:
        try:
            path.chmod(wanted)
        except OSError as error:
            raise ConfigError(f"{path} is {mode:04o} and cannot be made {wanted:04o}: {error.strerror}") from None
        log.warning("%s was %04o, readable by others: now %04o", path, mode, wanted)
    return [path for path, _, _ in loose]


def _loose(path: Path) -> list[tuple[Path, int, int]]:
    """[(path, mode, the mode without group and other bits)] if others may use it (0755 -> 0700, 0644 -> 0600)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)  # a link's target: what a reader would open
    except FileNotFoundError:
        return []  # not there, or gone meanwhile (a -wal file at a checkpoint)
    return [(path, mode, mode & ~_GROUP_AND_OTHERS)] if mode & _GROUP_AND_OTHERS else []


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
