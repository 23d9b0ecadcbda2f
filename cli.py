"""`python main.py backup PATH`, `python main.py keys ...` and `python main.py
copy-database --to URL`: operator commands that work on the configured database
while the service runs (or not)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from config import Settings, get_settings
from models.auth import CLI_ACTOR, Caller, KeyInfo
from models.database import migrate
from services.backup import BackupError, backup
from services.copy_database import CopyError, check_endpoints, copy_database
from services.errors import ServiceError
from services.keys import KeyService, check_name
from services.storage import Database

CLI = Caller(CLI_ACTOR, admin=True)


def backup_command(args: list[str]) -> int:
    """`python main.py backup PATH`: copy the live database (services/backup.py)."""
    if len(args) != 1:
        print("usage: python main.py backup PATH", file=sys.stderr)
        return 2
    try:
        report = backup(get_settings().database_url, Path(args[0]))
    except BackupError as exc:
        print(f"Backup failed: {exc}", file=sys.stderr)
        return 2
    print(
        f"backed up {report.sessions} sessions, {report.messages} messages "
        f"({report.bytes} bytes) to {report.path}"
    )
    return 0


def copy_database_command(args: list[str]) -> int:
    """`python main.py copy-database --to URL`: SQLite into an empty PostgreSQL
    database (services/copy_database.py)."""
    parser = argparse.ArgumentParser(
        prog="python main.py copy-database",
        description="Copy this SQLite database (DATABASE_URL) into an empty PostgreSQL one.",
    )
    parser.add_argument("--to", required=True, metavar="URL", help="postgresql://user:pass@host/db")
    options = parser.parse_args(args)
    source = get_settings().database_url
    try:
        check_endpoints(source, options.to)
        asyncio.run(_migrate(source, options.to))
        report = copy_database(source, options.to)
    except (CopyError, ServiceError, DBAPIError) as exc:
        reason = exc.message if isinstance(exc, ServiceError) else str(exc).splitlines()[0]
        print(f"Copy failed: {reason}", file=sys.stderr)
        return 2
    print(report.describe())
    return 0


async def _migrate(*database_urls: str) -> None:
    """Both schemas at the newest migration (the target's created in an empty one)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for url in database_urls:
        database = Database.open(url)
        try:
            await migrate(database.engine)
        finally:
            await database.close()


def _key_name(value: str) -> str:
    try:
        return check_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def keys_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py keys", description="API keys (used with AUTH_MODE=api_key)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key and print it, once")
    create.add_argument("--name", required=True, type=_key_name, help="who the key is for")
    create.add_argument("--admin", action="store_true", help="sees every session, /api/audit")
    commands.add_parser("list", help="every key: id, name, admin, created, revoked")
    revoke = commands.add_parser("revoke", help="the key of this name stops working at once")
    revoke.add_argument("--name", required=True, help="the key's name")
    return parser


def keys_command(args: list[str]) -> int:
    options = keys_parser().parse_args(args)
    try:
        return asyncio.run(_run_keys(get_settings(), options))
    except ServiceError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return 1


async def _run_keys(settings: Settings, options: argparse.Namespace) -> int:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # stdout is for the key
    database = Database.open(settings.database_url, settings.db_busy_timeout_ms)
    try:
        await migrate(database.engine)
        keys = KeyService(database)
        if options.command == "create":
            key, info = await keys.create(options.name, options.admin, CLI)
            kind = "admin key" if info.admin else "key"
            print(f"Created {kind} {info.name!r} (id {info.key_id}). It is shown only now:")
            print(key)
        elif options.command == "list":
            _print_keys(await keys.all())
        elif not await keys.revoke(options.name, CLI):
            print(f"No live key named {options.name!r}", file=sys.stderr)
            return 1
        else:
            print(f"Revoked {options.name!r}")
        return 0
    finally:
        await database.close()


def _print_keys(keys: list[KeyInfo]) -> None:
    if not keys:
        print("No keys yet: python main.py keys create --name NAME [--admin]")
        return
    print(f"{'ID':<13} {'NAME':<24} {'ADMIN':<6} {'CREATED':<20} REVOKED")
    for key in keys:
        created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if key.revoked_at else "-"
        admin = "yes" if key.admin else "no"
        print(f"{key.key_id:<13} {key.name:<24} {admin:<6} {created:<20} {revoked}")


def run_command(name: str, args: list[str]) -> int:
    """One of main.COMMANDS with its arguments; its exit status."""
    commands = {
        "backup": backup_command,
        "keys": keys_command,
        "copy-database": copy_database_command,
    }
    return commands[name](args)
