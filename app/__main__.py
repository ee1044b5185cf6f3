"""`python -m app`: serve on the embedded default, or run a maintenance command.

    python -m app                      serve (same as `serve`)
    python -m app serve --port 8000 --workers 1
    python -m app migrate              apply schema migrations
    python -m app audit verify         check the audit hash chains and the root chain
    python -m app partitions restore audit_entries_2023_01   read an archived month back into restored_<name>
    python -m app keys rotate          create a new signing key (old ones stay published)
    python -m app clients add|suspend|reactivate|revoke-key|set-department   manage the API clients of departments
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from functools import partial
from typing import TYPE_CHECKING

from app.config import ConfigError, Settings

if TYPE_CHECKING:
    from app.cache import Cache
    from app.clock import Clock


def build_parser(defaults: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="粤省事式政务服务平台 backend (sample).")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the API (default)")
    for target in (parser, serve):
        target.add_argument("--host", default=defaults.host, help=f"address to bind (APP_HOST, default {defaults.host})")
        target.add_argument("--port", type=int, default=defaults.port, help=f"port (APP_PORT, default {defaults.port})")
        target.add_argument("--workers", type=int, default=defaults.workers,
                            help="worker processes (APP_WORKERS; more than 1 needs APP_REDIS_URL)")
    commands.add_parser("migrate", help="apply database migrations")
    audit = commands.add_parser("audit", help="audit log tools")
    audit.add_argument("action", choices=["verify"], help="verify: check the hash chain")
    partitions = commands.add_parser("partitions", help="archived months of the append-only tables")
    partitions.add_argument("action", choices=["restore"],
                            help="restore: read an archived month back into a table restored_<partition>")
    partitions.add_argument("partition", help="the partition's name, as in archived_partitions (audit_entries_2023_01)")
    keys = commands.add_parser("keys", help="signing key tools")
    keys.add_argument("action", choices=["rotate", "list"], help="rotate: new current key; list: published kids")
    clients = commands.add_parser("clients", help="register, suspend or reactivate an API client; revoke its keys; "
                                                  "set its department")
    client_actions = clients.add_subparsers(dest="action", required=True)
    add = client_actions.add_parser("add", help="register a department, verifier, partner or relying party")
    add.add_argument("--name", required=True, help="organisation name shown to citizens in their access log")
    add.add_argument("--audience", required=True, choices=["admin", "partner", "relying_party"])
    add.add_argument("--role", action="append", default=[], help="e.g. lab, verifier (repeatable)")
    add.add_argument("--public-key", required=True, help="PEM file of the client's EC P-256 public key")
    add.add_argument("--kid", default="1", help="the kid the client puts in its JWT header")
    add.add_argument("--department", help="the catalogue department it acts for, e.g. gd-hrss: a clerk sees and works "
                                          "that department's applications only (required with --role clerk)")
    for action, what in (("suspend", "refuse every request of a client (停用)"), ("reactivate", "let it call again")):
        client_actions.add_parser(action, help=what).add_argument("client_id")
    revoke = client_actions.add_parser("revoke-key", help="stop one key of a client from working")
    revoke.add_argument("client_id")
    revoke.add_argument("--kid", required=True)
    department = client_actions.add_parser("set-department", help="bind a client (a clerk) to a catalogue department")
    department.add_argument("client_id")
    department.add_argument("--department", required=True, help="the catalogue department it acts for, e.g. gd-hrss")
    return parser


def main(argv: list[str] | None = None) -> int:
    from app import logs

    logs.configure("text", force=True)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, force=True)
    args = build_parser(settings).parse_args(argv)
    try:
        settings = settings.with_(host=args.host, port=args.port, workers=args.workers) if hasattr(args, "host") else settings
        return _run(settings, args)
    except ConfigError as exc:  # also found once running, e.g. a keys file others may read in production
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from app import audit

    audit.configure(settings.audit_chains)  # an operator's command writes its audit entry as the server would
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "audit":
        return asyncio.run(_audit_verify(settings))
    if args.command == "partitions":
        return asyncio.run(_restore_partition(settings, args.partition))
    if args.command == "keys":
        return _keys(settings, args.action)
    if args.command == "clients":
        return asyncio.run(_add_client(settings, args) if args.action == "add" else _change_client(settings, args))
    return _serve(settings)


def _serve(settings: Settings) -> int:
    if settings.metrics_port is not None:
        _serve_metrics(settings)
    from app.platform import build_platform

    # Keys and schema are prepared once here, before any worker starts.
    build_platform(settings)
    asyncio.run(_migrate(settings, quiet=True))
    if settings.env == "dev" and os.environ.get("APP_STANDINS", "").strip().lower() != "off":
        # The stand-in outside parties are separate processes this one never starts: a party whose URL
        # setting nobody listens on answers 503. APP_STANDINS=off: whoever started us runs them.
        print("dev: `make run` (python -m standins --with-app) starts the app with every stand-in outside party; "
              "without them those parties answer 503", flush=True)
    return _serve_app(settings)


def _serve_metrics(settings: Settings) -> None:
    """/metrics for every worker, from this process, on APP_METRICS_PORT; before any worker starts, so that
    each writes its values where this process reads them."""
    from app import metrics_server

    folder = metrics_server.prepare()
    try:
        metrics_server.serve(settings.metrics_host, settings.metrics_port or 0)
    except OSError as exc:
        raise ConfigError(f"APP_METRICS_PORT {settings.metrics_port} cannot be served on {settings.metrics_host} "
                          f"({exc.strerror or exc})") from None
    logging.getLogger("app").info("metrics on http://%s:%s/metrics (worker files in %s)", settings.metrics_host,
                                  settings.metrics_port, folder)


def _serve_app(settings: Settings) -> int:
    from app.server import BoundedHttpProtocol, create_app

    if settings.workers == 1:
        create_app(settings).run(host=settings.host, port=settings.port, access_log=False, single_process=True,
                                 protocol=BoundedHttpProtocol)
        return 0
    # Each worker process builds its own app from the same settings (nothing is shared but Redis and the DB).
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    app.prepare(host=settings.host, port=settings.port, workers=settings.workers, access_log=False,
                protocol=BoundedHttpProtocol)
    Sanic.serve(primary=app, app_loader=loader)
    return 0


async def _migrate(settings: Settings, quiet: bool = False) -> int:
    from app.db import close_db, init_db

    await init_db(settings.resolved_database_url, migrate=True)
    await close_db()
    if not quiet:
        print("migrations applied")
    return 0


async def _audit_verify(settings: Settings) -> int:
    from app.audit import verify_chain
    from app.db import close_db, init_db

    await init_db(settings.resolved_database_url, migrate=False)
    try:
        report = await verify_chain()
    finally:
        await close_db()
    checked = (f"{report.chains} chains, {report.checked} entries, {report.anchors} anchors in "
               f"{report.root_entries} root entries")
    if report.ok:
        print(f"audit chain intact: {checked}")
        return 0
    print(f"audit chain BROKEN ({checked} checked):")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


async def _restore_partition(settings: Settings, partition: str) -> int:
    from app.clock import Clock
    from app.db import close_db, init_db
    from app.platform import load_pii_key
    from app.retention import restore_archive
    from app.security.pii import PiiCipher
    from app.storage import ObjectMissing, storage_from_settings

    storage = storage_from_settings(settings)
    await init_db(settings.resolved_database_url, migrate=False)
    try:
        table, rows = await restore_archive(Clock(), storage, PiiCipher(load_pii_key(settings)), partition)
    except (LookupError, ValueError, ObjectMissing) as problem:
        print(f"not restored: {problem}", file=sys.stderr)
        return 1
    finally:
        await storage.close()
        await close_db()
    print(f"{partition}: {rows} rows restored into table {table}")
    return 0


async def _add_client(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.clock import Clock
    from app.db import close_db, init_db
    from app.security.clients import register_client

    if "clerk" in args.role and not args.department:
        # A clerk of no department is refused at every clerk route: say so now, not at its first request.
        print("cannot register: a clerk needs --department (the catalogue department whose applications it works)",
              file=sys.stderr)
        return 2
    await init_db(settings.resolved_database_url, migrate=not settings.production)
    clock = Clock()
    try:
        if args.department:
            await _check_department(settings, args.department)
        client = await register_client(clock, args.name, args.audience, args.role,
                                       Path(args.public_key).read_text(), kid=args.kid, department_id=args.department)
        await _operator_did(clock, "client_add", {"client": client.id, "audience": args.audience, "roles": args.role,
                                                  "kid": args.kid, "department": args.department})
    except (OSError, ValueError) as exc:
        print(f"cannot register: {exc}", file=sys.stderr)
        return 2
    finally:
        await close_db()
    print(f"client id (use as iss): {client.id}")
    print(f"aud for its tokens: {settings.security.issuer}/{args.audience}")
    if args.department:
        print(f"department: {args.department}")
    return 0


async def _check_department(settings: Settings, department_id: str) -> None:
    """Refuse (ValueError) a department no catalogue item names: a clerk bound to it would see an empty
    queue without a word. Outside production the sample catalogue counts too, as every start seeds it."""
    from app.services.catalogue.service import catalogue_departments

    known = await catalogue_departments(include_sample=not settings.production)
    if department_id not in known:
        shown = ", ".join(sorted(known)[:30]) + (", …" if len(known) > 30 else "")
        raise ValueError(f"no catalogue item names department {department_id!r} (known: {shown or 'none'})")


async def _change_client(settings: Settings, args: argparse.Namespace) -> int:
    """Suspend, reactivate, revoke a key or set the department: through the service's cache too, so that every
    worker sees it at once (with Redis; on the embedded default a running server sees it within the client
    cache's lifetime)."""
    from app.cache import create_cache
    from app.clock import Clock
    from app.db import close_db, init_db
    from app.security.clients import CLIENT_CACHE_TTL
    from app.server import OUTAGES

    await init_db(settings.resolved_database_url, migrate=not settings.production)
    cache, clock = create_cache(settings.redis_url, settings.cache_namespace), Clock()
    try:
        done, changed, missing = await _apply_change(settings, clock, cache, args)
        if done:
            await _operator_did(clock, f"client_{args.action.replace('-', '_')}", changed)
    except ValueError as exc:
        print(f"cannot {args.action}: {exc}", file=sys.stderr)
        return 2
    except OUTAGES as exc:
        print(f"cannot {args.action}: the database or the cache did not answer ({type(exc).__name__}); "
              "run the command again when they do", file=sys.stderr)
        return 3
    finally:
        await cache.close()
        await close_db()
    if not done:
        print(missing, file=sys.stderr)
        return 1
    print(f"{args.action}: {args.client_id}" + (f" key {changed['kid']}" if "kid" in changed else "")
          + (f" department {changed['department']}" if "department" in changed else ""))
    if not settings.redis_url:
        print(f"a server running now without Redis sees this within {CLIENT_CACHE_TTL:.0f} s")
    return 0


async def _apply_change(settings: Settings, clock: Clock, cache: Cache,
                        args: argparse.Namespace) -> tuple[bool, dict[str, object], str]:
    """The change `args` asks for: whether it was made, what its audit entry records, what to say if not."""
    from app.security.clients import ApiClient, revoke_client_key, set_client_active, set_client_department

    client_id = args.client_id
    if args.action == "revoke-key":
        done = await revoke_client_key(clock, cache, client_id, args.kid)
        return done, {"client": client_id, "kid": args.kid}, f"no live key {args.kid} of client {client_id}"
    if args.action == "set-department":
        await _check_department(settings, args.department)
        previous = await ApiClient.filter(id=client_id).values_list("department_id", flat=True)
        done = await set_client_department(cache, client_id, args.department)
        changed = {"client": client_id, "department": args.department, "previous": previous[0] if previous else None}
        return done, changed, f"no client {client_id}"
    done = await set_client_active(cache, client_id, args.action == "reactivate")
    return done, {"client": client_id}, f"no client {client_id}"


async def _operator_did(clock: Clock, action: str, attributes: dict[str, object]) -> None:
    """An operator's command, in the audit log under the account that ran it."""
    import getpass

    from app import audit

    await audit.record_event(clock, actor=f"operator:{getpass.getuser()}", actor_type="operator", action=action,
                             attributes=attributes)


def _keys(settings: Settings, action: str) -> int:
    from app.clock import Clock
    from app.platform import build_platform

    platform = build_platform(settings.with_(env="dev") if action == "rotate" else settings, Clock())
    if action == "rotate":
        key = platform.keys.rotate()
        print(f"new signing key {key.kid}; previous keys stay published for {platform.keys.grace}")
    for jwk in platform.keys.jwks()["keys"]:
        print(jwk["kid"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
