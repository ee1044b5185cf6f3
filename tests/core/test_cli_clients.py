"""An operator registers a lab with `python -m app clients add`, and changes it with the other `clients` commands."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.security.clients import registered_client, set_client_department
from app.services.catalogue.service import catalogue_departments
from app.services.catalogue.models import Department
from bench._load import free_port
from tests.factories import make_department

ROOT = Path(__file__).resolve().parents[2]
# The command line on a SQLite file of its own, whatever the run's backend.
on_its_own_file = pytest.mark.same_on_every_backend


def run_cli(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(APP_DATA_DIR=str(tmp_path), APP_DATABASE_URL=f"sqlite://{tmp_path}/cli.sqlite3", **settings)
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def write_key(path: Path, key) -> Path:
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


@on_its_own_file
def test_registering_a_lab_prints_its_client_id_and_audience(tmp_path):
    pem = write_key(tmp_path / "lab.pem", ec.generate_private_key(ec.SECP256R1()))
    done = run_cli(tmp_path, "clients", "add", "--name", "示例检验所", "--audience", "admin", "--role", "lab", "--public-key", str(pem))
    assert done.returncode == 0, done.stderr
    assert "client id (use as iss): cl_" in done.stdout
    assert "https://gov-app.example.cn/admin" in done.stdout


@on_its_own_file
def test_an_rsa_key_or_a_missing_file_is_refused_with_a_message(tmp_path):
    rsa_pem = write_key(tmp_path / "rsa.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    refused = run_cli(tmp_path, "clients", "add", "--name", "x", "--audience", "admin", "--public-key", str(rsa_pem))
    assert refused.returncode == 2 and "P-256" in refused.stderr
    missing = run_cli(tmp_path, "clients", "add", "--name", "x", "--audience", "admin", "--public-key", str(tmp_path / "nope.pem"))
    assert missing.returncode == 2 and "cannot register" in missing.stderr


def registered(tmp_path: Path, *roles: str, audience: str = "admin") -> str:
    pem = write_key(tmp_path / "client.pem", ec.generate_private_key(ec.SECP256R1()))
    done = run_cli(tmp_path, "clients", "add", "--name", "示例检验所", "--audience", audience,
                   *[arg for role in roles for arg in ("--role", role)], "--public-key", str(pem))
    assert done.returncode == 0, done.stderr
    return re.search(r"client id \(use as iss\): (\S+)", done.stdout).group(1)


def stored(tmp_path: Path, sql: str, *args: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        return db.execute(sql, args).fetchall()


@on_its_own_file
def test_an_operator_suspends_and_reactivates_a_lab(tmp_path):
    lab = registered(tmp_path, "lab")
    suspended = run_cli(tmp_path, "clients", "suspend", lab)
    assert suspended.returncode == 0, suspended.stderr
    assert f"suspend: {lab}" in suspended.stdout and "within 60 s" in suspended.stdout  # no Redis here
    assert stored(tmp_path, "SELECT active FROM api_clients WHERE id = ?", lab) == [(0,)]
    assert run_cli(tmp_path, "clients", "reactivate", lab).returncode == 0
    assert stored(tmp_path, "SELECT active FROM api_clients WHERE id = ?", lab) == [(1,)]
    # Each change is in the audit log, with who made it.
    logged = stored(tmp_path, "SELECT action, actor_type, actor, attributes FROM audit_entries ORDER BY seq")
    assert [(action, actor_type) for action, actor_type, _, _ in logged] == [
        ("client_add", "operator"), ("client_suspend", "operator"), ("client_reactivate", "operator")]
    assert all(actor.startswith("operator:") and lab in attributes for _, _, actor, attributes in logged)


@on_its_own_file
def test_an_operator_revokes_a_key_once(tmp_path):
    lab = registered(tmp_path, "lab")
    revoked = run_cli(tmp_path, "clients", "revoke-key", lab, "--kid", "1")
    assert revoked.returncode == 0, revoked.stderr
    assert stored(tmp_path, "SELECT revoked_at IS NOT NULL FROM api_client_keys WHERE client_id = ?", lab) == [(1,)]
    again = run_cli(tmp_path, "clients", "revoke-key", lab, "--kid", "1")
    assert again.returncode == 1 and f"no live key 1 of client {lab}" in again.stderr
    assert stored(tmp_path, "SELECT count(*) FROM audit_entries WHERE action = 'client_revoke_key'") == [(1,)]


@on_its_own_file
def test_an_unknown_client_or_a_partner_region_is_refused_with_a_message(tmp_path):
    registered(tmp_path)  # the database exists
    unknown = run_cli(tmp_path, "clients", "suspend", "cl_nobody")
    assert unknown.returncode == 1 and "no client cl_nobody" in unknown.stderr
    partner = registered(tmp_path, "partner", audience="partner")
    refused = run_cli(tmp_path, "clients", "suspend", partner)
    assert refused.returncode == 2 and "/api/admin/v1/partners/" in refused.stderr
    assert stored(tmp_path, "SELECT active FROM api_clients WHERE id = ?", partner) == [(1,)]


@on_its_own_file
def test_when_the_cache_cannot_be_told_nothing_is_changed(tmp_path):
    lab = registered(tmp_path, "lab")
    unreachable = {"APP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens there
    for command in (["suspend", lab], ["revoke-key", lab, "--kid", "1"], ["set-department", lab, "--department", "gd-hrss"]):
        failed = run_cli(tmp_path, "clients", *command, **unreachable)
        assert failed.returncode == 3 and "did not answer" in failed.stderr and "again" in failed.stderr
    assert stored(tmp_path, "SELECT active FROM api_clients WHERE id = ?", lab) == [(1,)]
    assert stored(tmp_path, "SELECT revoked_at FROM api_client_keys WHERE client_id = ?", lab) == [(None,)]
    assert stored(tmp_path, "SELECT department_id FROM api_clients WHERE id = ?", lab) == [(None,)]


@on_its_own_file
def test_an_operator_registers_a_clerk_for_its_department(tmp_path):
    pem = write_key(tmp_path / "clerk.pem", ec.generate_private_key(ec.SECP256R1()))
    done = run_cli(tmp_path, "clients", "add", "--name", "广东省人社厅办件窗口（示例）", "--audience", "admin",
                   "--role", "clerk", "--department", "gd-hrss", "--public-key", str(pem))
    assert done.returncode == 0, done.stderr
    assert "department: gd-hrss" in done.stdout
    clerk = re.search(r"client id \(use as iss\): (\S+)", done.stdout).group(1)
    assert stored(tmp_path, "SELECT department_id FROM api_clients WHERE id = ?", clerk) == [("gd-hrss",)]
    [(attributes,)] = stored(tmp_path, "SELECT attributes FROM audit_entries WHERE action = 'client_add'")
    assert "gd-hrss" in attributes


@on_its_own_file
def test_a_clerk_without_a_department_is_refused_with_a_message(tmp_path):
    pem = write_key(tmp_path / "clerk.pem", ec.generate_private_key(ec.SECP256R1()))
    refused = run_cli(tmp_path, "clients", "add", "--name", "某窗口（示例）", "--audience", "admin", "--role", "clerk",
                      "--public-key", str(pem))
    assert refused.returncode == 2 and "--department" in refused.stderr
    lab = registered(tmp_path, "lab")  # other roles need none
    assert stored(tmp_path, "SELECT id, department_id FROM api_clients") == [(lab, None)]


@on_its_own_file
def test_an_operator_binds_a_clerk_left_without_a_department_by_the_upgrade(tmp_path):
    pem = write_key(tmp_path / "clerk.pem", ec.generate_private_key(ec.SECP256R1()))
    done = run_cli(tmp_path, "clients", "add", "--name", "某窗口（示例）", "--audience", "admin", "--role", "clerk",
                   "--department", "gd-hrss", "--public-key", str(pem))
    clerk = re.search(r"client id \(use as iss\): (\S+)", done.stdout).group(1)
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:  # as every clerk registered before departments
        db.execute("UPDATE api_clients SET department_id = NULL WHERE id = ?", (clerk,))
    bound = run_cli(tmp_path, "clients", "set-department", clerk, "--department", "gd-gat")
    assert bound.returncode == 0, bound.stderr
    assert f"set-department: {clerk} department gd-gat" in bound.stdout and "within 60 s" in bound.stdout
    assert stored(tmp_path, "SELECT department_id FROM api_clients WHERE id = ?", clerk) == [("gd-gat",)]
    [(actor_type, attributes)] = stored(
        tmp_path, "SELECT actor_type, attributes FROM audit_entries WHERE action = 'client_set_department'")
    assert actor_type == "operator" and json.loads(attributes) == {"client": clerk, "department": "gd-gat", "previous": None}
    unknown = run_cli(tmp_path, "clients", "set-department", "cl_nobody", "--department", "gd-gat")
    assert unknown.returncode == 1 and "no client cl_nobody" in unknown.stderr


@on_its_own_file
def test_a_department_the_catalogue_does_not_name_is_refused_with_a_message(tmp_path):
    lab = registered(tmp_path, "lab")
    moved = run_cli(tmp_path, "clients", "set-department", lab, "--department", "gd-nowhere")
    assert moved.returncode == 2 and "no catalogue item names department 'gd-nowhere'" in moved.stderr
    assert "gd-hrss" in moved.stderr  # the known ones, to pick from
    pem = write_key(tmp_path / "clerk.pem", ec.generate_private_key(ec.SECP256R1()))
    added = run_cli(tmp_path, "clients", "add", "--name", "某窗口（示例）", "--audience", "admin", "--role", "clerk",
                    "--department", "gd-nowhere", "--public-key", str(pem))
    assert added.returncode == 2 and "cannot register: no catalogue item names department" in added.stderr
    assert stored(tmp_path, "SELECT id, department_id FROM api_clients") == [(lab, None)]
    assert stored(tmp_path, "SELECT action FROM audit_entries") == [("client_add",)]


async def test_the_departments_a_client_may_act_for_are_those_catalogue_items_name(app, clock):
    """In production only the database counts; a department with no item would give its clerk an empty queue."""
    await Department.create(id="gd-empty-sample", name="无事项的部门（示例）", region_level="province", region_code="440000")
    known = await catalogue_departments(include_sample=False)
    assert "gd-hrss" in known and "gd-empty-sample" not in known


async def test_a_clerk_given_a_department_works_it_at_its_next_request(client, platform, clock):
    clerk = await make_department(clock, "某窗口（示例）", ["clerk"])  # as the upgrade left every clerk
    refused = await client.get("/api/admin/v1/applications", headers=clerk.headers())
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "CLIENT_DEPARTMENT_REQUIRED"
    assert await set_client_department(platform.cache, clerk.id, "gd-hrss")
    assert (await client.get("/api/admin/v1/applications", headers=clerk.headers())).status_code == 200
    assert (await registered_client(platform.cache, clerk.id)).department_id == "gd-hrss"
    assert not await set_client_department(platform.cache, "cl_nobody", "gd-hrss")
