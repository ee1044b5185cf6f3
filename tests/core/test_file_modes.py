"""An operator looks at what the service keeps on disk: only the service's own user can read it.

The data folder holds the SQLite database (lab results, colours, appeal texts, the audit log) and
the keys folder the signing and PII keys. Folders are 0700, every file 0600, from the first start
on; a looser mode is tightened and reported outside production, and refused in production.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from tortoise import connections

from app.clock import Clock
from app.config import ConfigError, Settings
from app.db import close_db, init_db
from app.file_modes import loose_modes
from app.platform import build_platform
from app.security.keys import SigningKeyStore
from tests.core.test_config import GOOD_PII_KEY, PRODUCTION, PYTHON, ROOT, clean_env


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def everything_under(folder: Path) -> tuple[list[Path], list[Path]]:
    folders, files = [folder], []
    for parent, dirs, names in os.walk(folder):
        folders += [Path(parent) / d for d in dirs]
        files += [Path(parent) / n for n in names]
    return folders, files


def production_with_keys(keys: Path) -> Settings:
    environ = {**PRODUCTION, "APP_KEYS_DIR": str(keys), "APP_PII_KEY": GOOD_PII_KEY}
    return Settings.from_env(environ)


def signing_keys_in(keys: Path) -> None:
    SigningKeyStore(keys, Clock(), grace=timedelta(hours=24), create_if_missing=True).load()


async def test_a_first_start_keeps_the_data_folder_and_every_file_in_it_private(tmp_path):
    data = tmp_path / "data"  # not there yet, as on a new machine
    settings = Settings(env="dev", data_dir=data)
    build_platform(settings)  # signing keys and the PII key
    await init_db(settings.resolved_database_url, migrate=True)  # the database, written in WAL mode
    try:
        await connections.get("default").execute_query("SELECT count(*) FROM audit_entries")
        folders, files = everything_under(data)
        names = {path.name for path in files}
        assert {"app.sqlite3", "app.sqlite3-wal", "app.sqlite3-shm", "index.json", "pii.key"} <= names
        assert any(name.endswith(".pem") for name in names)
        assert {str(path.relative_to(tmp_path)): f"{mode(path):04o}" for path in folders} == {
            "data": "0700", "data/keys": "0700"}
        assert {f"{mode(path):04o}" for path in files} == {"0600"}, {p.name: f"{mode(p):04o}" for p in files}
    finally:
        await close_db()


def test_in_dev_a_loose_mode_is_tightened_and_named_in_a_warning(tmp_path, caplog):
    data = tmp_path / "data"
    settings = Settings(env="dev", data_dir=data)
    build_platform(settings)
    (data / "app.sqlite3").write_bytes(b"")
    # Someone copied the folder with a umask of 022, or ran chmod -R a+r on it.
    loose = {data: 0o755, data / "keys": 0o755, data / "app.sqlite3": 0o644, data / "keys" / "pii.key": 0o644}
    for path, wanted in loose.items():
        path.chmod(wanted)
    with caplog.at_level(logging.WARNING, logger="app.file_modes"):
        build_platform(settings)
    assert {path: mode(path) for path in loose} == {
        data: 0o700, data / "keys": 0o700, data / "app.sqlite3": 0o600, data / "keys" / "pii.key": 0o600}
    warned = "\n".join(record.getMessage() for record in caplog.records)
    for path, was in loose.items():
        assert warned.count(f"{path} was {was:04o}") == 1, warned  # each named once


@pytest.mark.parametrize("loosen", ["folder", "file"])
def test_production_refuses_to_start_with_a_keys_folder_or_file_others_may_read(tmp_path, loosen):
    keys = tmp_path / "keys"
    signing_keys_in(keys)
    settings = production_with_keys(keys)
    build_platform(settings)  # private: it starts
    loose = keys if loosen == "folder" else keys / "index.json"
    loose.chmod(0o755 if loosen == "folder" else 0o644)
    with pytest.raises(ConfigError) as refused:
        build_platform(settings)
    assert str(loose) in str(refused.value) and "0700" in str(refused.value)
    assert mode(loose) in (0o755, 0o644)  # left as it was: production changes nothing, the operator does


def test_the_production_refusal_is_a_configuration_error_at_the_command_line(tmp_path):
    keys = tmp_path / "keys"
    signing_keys_in(keys)
    (keys / "index.json").chmod(0o644)
    done = subprocess.run([str(PYTHON), "-m", "app"], cwd=ROOT,
                          env=clean_env(**{**PRODUCTION, "APP_KEYS_DIR": str(keys)}, APP_DATA_DIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-800:]
    assert "configuration error" in done.stderr and f"{keys / 'index.json'} is 0644" in done.stderr
    assert "Traceback" not in done.stderr


def test_production_refuses_a_merchant_payment_key_others_may_read(tmp_path):
    """The merchant's WeChat Pay API key signs every payment request: mounted outside the keys folder, it is
    still held to 0600."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    keys = tmp_path / "keys"
    signing_keys_in(keys)
    merchant = tmp_path / "secrets" / "apiclient_key.pem"
    merchant.parent.mkdir()
    merchant.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    merchant.chmod(0o644)
    settings = production_with_keys(keys).with_(payment_merchant_key_file=str(merchant))
    with pytest.raises(ConfigError) as refused:
        build_platform(settings)
    assert str(merchant) in str(refused.value) and mode(merchant) == 0o644
    merchant.chmod(0o600)
    build_platform(settings)  # private: it starts


def test_an_uploads_folder_kept_elsewhere_is_held_private_too(tmp_path):
    """Uploaded materials kept on disk outside the data folder (APP_UPLOAD_DIR, outside production: production
    keeps them in object storage) are held to 0700 and 0600 too."""
    uploads = tmp_path / "materials"
    uploads.mkdir(mode=0o700)
    settings = Settings(data_dir=str(tmp_path / "data"), upload_dir=str(uploads))
    assert uploads not in [path for path, _, _ in loose_modes(settings)]
    uploads.chmod(0o755)
    assert (uploads, 0o755, 0o700) in loose_modes(settings)
