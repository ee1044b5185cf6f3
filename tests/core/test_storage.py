"""Object storage (app/storage.py): the same put, get and delete on the local disk and on a real S3-compatible
server (SeaweedFS on loopback); keys that could leave their folder are refused; missing objects say so."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path
from typing import AsyncIterator

import pytest

from app.config import Settings
from app.storage import LocalStorage, ObjectMissing, ObjectStorage, S3Storage, checked_key, storage_from_settings
from tests.s3_server import S3Server, stored_objects


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStorage]:
    kept: ObjectStorage
    if request.param == "local":
        kept = LocalStorage(tmp_path / "uploads")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        kept = S3Storage(endpoint=server.endpoint, bucket=server.bucket, region=server.region,
                         access_key=server.access_key, secret_key=server.secret_key,
                         prefix=f"core-{secrets.token_hex(4)}")
    yield kept
    await kept.close()


async def test_an_object_is_kept_read_and_deleted(storage: ObjectStorage):
    await storage.put("202612/upl_sample", b"\x01sealed bytes")
    assert await storage.get("202612/upl_sample") == b"\x01sealed bytes"
    await storage.put("202612/upl_sample", b"\x01replaced")
    assert await storage.get("202612/upl_sample") == b"\x01replaced"

    await storage.delete("202612/upl_sample")
    with pytest.raises(ObjectMissing):
        await storage.get("202612/upl_sample")
    await storage.delete("202612/upl_sample")  # deleting what is gone is no error


async def test_local_files_are_private_and_written_whole(tmp_path: Path):
    storage = LocalStorage(tmp_path / "data" / "uploads")
    await storage.put("202612/upl_a", b"x" * 1000)
    path = tmp_path / "data" / "uploads" / "202612" / "upl_a"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["upl_a"]  # no temporary file left beside it


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "", "a b", "a/b/c/d/e", "名字"])
def test_a_key_that_could_leave_its_folder_is_refused(key: str):
    with pytest.raises(ValueError):
        checked_key(key)


async def test_s3_objects_go_under_the_prefix_in_the_bucket(s3_server: S3Server):
    prefix = f"core-{secrets.token_hex(4)}"
    storage = S3Storage(endpoint=s3_server.endpoint, bucket=s3_server.bucket, region=s3_server.region,
                        access_key=s3_server.access_key, secret_key=s3_server.secret_key, prefix=prefix)
    try:
        await storage.put("202612/upl_b", b"\x01b")
        assert await stored_objects(s3_server, prefix) == {f"{prefix}/202612/upl_b": b"\x01b"}
    finally:
        await storage.close()


async def test_s3_with_a_wrong_secret_is_refused(s3_server: S3Server):
    storage = S3Storage(endpoint=s3_server.endpoint, bucket=s3_server.bucket, region=s3_server.region,
                        access_key=s3_server.access_key, secret_key="not-the-secret", timeout=3)
    try:
        with pytest.raises(Exception) as refused:
            await storage.put("202612/upl_c", b"\x01c")
        assert not isinstance(refused.value, ObjectMissing)
    finally:
        await storage.close()


def test_the_settings_choose_the_storage(tmp_path: Path):
    local = storage_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "uploads"
    s3 = storage_from_settings(Settings(data_dir=tmp_path, upload_storage="s3", s3_endpoint="https://oss.example.cn",
                                        s3_bucket="b", s3_access_key="AK", s3_secret_key="SK"))
    assert isinstance(s3, S3Storage) and s3.bucket == "b" and s3.name_of("x/y") == "uploads/x/y"
    assert "SK" not in repr(Settings(upload_storage="s3", s3_access_key="AK", s3_secret_key="SK").uploads)


def test_s3_without_credentials_or_with_an_unknown_type_does_not_start():
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="APP_S3_BUCKET, APP_S3_ACCESS_KEY and APP_S3_SECRET_KEY"):
        Settings(upload_storage="s3")
    with pytest.raises(ConfigError, match="APP_UPLOAD_ALLOWED_TYPES"):
        Settings(upload_allowed_types="jpeg,exe")
