"""An operator registers a lab with `python -m app clients add`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(APP_DATA_DIR=str(tmp_path), APP_DATABASE_URL=f"sqlite://{tmp_path}/cli.sqlite3")
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def write_key(path: Path, key) -> Path:
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def test_registering_a_lab_prints_its_client_id_and_audience(tmp_path):
    pem = write_key(tmp_path / "lab.pem", ec.generate_private_key(ec.SECP256R1()))
    done = run_cli(tmp_path, "clients", "add", "--name", "示例检验所", "--audience", "admin", "--role", "lab", "--public-key", str(pem))
    assert done.returncode == 0, done.stderr
    assert "client id (use as iss): cl_" in done.stdout
    assert "https://gov-app.example.cn/admin" in done.stdout


def test_an_rsa_key_or_a_missing_file_is_refused_with_a_message(tmp_path):
    rsa_pem = write_key(tmp_path / "rsa.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    refused = run_cli(tmp_path, "clients", "add", "--name", "x", "--audience", "admin", "--public-key", str(rsa_pem))
    assert refused.returncode == 2 and "P-256" in refused.stderr
    missing = run_cli(tmp_path, "clients", "add", "--name", "x", "--audience", "admin", "--public-key", str(tmp_path / "nope.pem"))
    assert missing.returncode == 2 and "cannot register" in missing.stderr
