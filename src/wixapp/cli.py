"""``wixapp serve | dev | emulator | migrate | revision | new | webhook send | urls | demo``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging.config
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wixapp.errors import ConfigurationError
from wixapp.logs import logging_config

if TYPE_CHECKING:
    from wixapp.demo import AppUnderDemo

__all__ = ["main"]

WIXAPP_APP = "wixapp.server:create_app"


def main(argv: Sequence[str] | None = None) -> int:
    _read_dotenv()  # before the parser: its defaults read the environment
    parser = _parser()
    args = parser.parse_args(argv)
    logging.config.dictConfig(_log_config(args))
    try:
        result: int = args.run(args)
    except ConfigurationError as error:
        detail = error.detail
        print(detail if detail.startswith("wixapp") else f"wixapp: {detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


def _read_dotenv() -> None:
    """The working folder's ``.env`` configures every command (and, through the
    environment, every worker they start); a variable already set wins."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


def _log_config(args: argparse.Namespace) -> dict[str, object]:
    return logging_config(level="WARNING" if args.quiet else "INFO", verbose=args.verbose)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wixapp", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="also log each migration step")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the backend against Wix (env config)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--stack",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="uvloop + httptools (auto: when installed, as uvicorn[standard] does) or the "
        "asyncio + h11 fallback",
    )
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate at start")
    _app_arguments(serve)
    serve.set_defaults(run=_serve)

    emulator = commands.add_parser("emulator", help="run the local Wix API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    _rate_limit_switch(emulator)
    emulator.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer the control API and pages for this host name or address, and let "
        "the site and editor pages load backends and scripts from it "
        "(repeatable; loopback only by default)",
    )
    emulator.add_argument(
        "--dashboard-port",
        type=int,
        default=None,
        metavar="PORT",
        help="also serve the Wix dashboard host (/dashboard) over HTTPS on PORT, as "
        "https://manage.wix.com (prints the chromium flags to reach it)",
    )
    emulator.set_defaults(run=_emulator)

    migrate = commands.add_parser(
        "migrate", help="bring the database schema up to date (wixapp's, then the app's)"
    )
    migrate.add_argument("--database-url", default=None, help="default: WIXAPP_DATABASE_URL")
    _migrations_argument(migrate)
    migrate.set_defaults(run=_migrate)

    revision = commands.add_parser("revision", help="write a new migration of the app's tables")
    revision.add_argument("-m", "--message", required=True, help="what the migration does")
    revision.add_argument(
        "--autogenerate", action="store_true", help="compare the app's tables with the database"
    )
    revision.add_argument("--database-url", default=None, help="default: WIXAPP_DATABASE_URL")
    _migrations_argument(revision)
    revision.set_defaults(run=_revision)

    new = commands.add_parser("new", help="create a new Wix app project built on wixapp")
    new.add_argument("name", help="the app's name, e.g. notes-board")
    new.add_argument("--directory", type=Path, default=None, help="default: ./NAME")
    new.add_argument(
        "--wixapp", default=None, help="what its Makefile installs wixapp from (default: this)"
    )
    new.set_defaults(run=_new)

    _webhook_commands(commands)

    urls = commands.add_parser(
        "urls", help="print what to enter in the Wix app dashboard for a public backend"
    )
    urls.add_argument("--base", required=True, metavar="URL", help="e.g. https://app.example.com")
    urls.add_argument("--widget-tag", default="wixapp-widget", help="the widget's custom element")
    urls.add_argument("--widget-script", default="/static/widget.js", help="its script's path")
    urls.add_argument("--panel", default="/panel", help="the settings panel's path")
    urls.set_defaults(run=_urls)

    demo = commands.add_parser("demo", help="the whole flow offline, against the emulator")
    demo.add_argument("--once", action="store_true", help="exit after the flow")
    demo.add_argument("--port", type=int, default=8000, help="backend port (0: any free)")
    demo.add_argument("--emulator-port", type=int, default=8765, help="(0: any free)")
    demo.add_argument("--database-url", default=None, help="default: a SQLite file in ./var")
    _app_arguments(demo)
    _page_arguments(demo)
    _rate_limit_switch(demo)
    demo.set_defaults(run=_demo)

    _dev_command(commands)
    return parser


def _dev_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = commands.add_parser(
        "dev",
        help="the app with reload, the emulator with two sites, the bundles rebuilt on change",
        description="Serve the app (reloaded when a Python file under ./src changes) against "
        "the emulator, where it is installed on two sites; rebuild the frontend bundles on "
        "change when ./frontend/build.mjs exists; print the site, editor and dashboard pages. "
        "Ctrl-C stops all of it.",
    )
    dev.add_argument("--port", type=int, default=8000, help="backend port (0: any free)")
    dev.add_argument("--emulator-port", type=int, default=8765, help="(0: any free)")
    dev.add_argument(
        "--dashboard-port", type=int, default=8443, help="the HTTPS dashboard host (0: any free)"
    )
    _app_arguments(dev)
    _page_arguments(dev)
    _rate_limit_switch(dev)
    dev.add_argument(
        "--no-frontend", dest="frontend", action="store_false", help="do not rebuild the bundles"
    )
    dev.set_defaults(run=_dev)


def _page_arguments(command: argparse.ArgumentParser) -> None:
    """Where the app's surfaces are, for the printed site, editor and dashboard pages."""
    command.add_argument("--widget-tag", default=None, help="the app widget's custom element tag")
    command.add_argument("--widget-script", default=None, help="its script's path on the backend")
    command.add_argument("--panel", default=None, help="the settings panel's path on the backend")
    command.add_argument(
        "--dashboard-page",
        default="/dashboard",
        metavar="PATH",
        help="the dashboard page's path on the backend (default: wixapp's /dashboard)",
    )


def _webhook_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    webhook = commands.add_parser("webhook", help="send a signed test webhook to any URL")
    actions = webhook.add_subparsers(required=True, metavar="ACTION")
    send = actions.add_parser(
        "send",
        help="sign an event as Wix does, POST it and print the answer",
        description="EVENT is a lifecycle event (AppInstalled, AppRemoved, PaidPlanPurchased, "
        "PaidPlanChanged, PaidPlanAutoRenewalCancelled, …) or a domain event named "
        "ENTITY_SLUG, e.g. wix.contacts.v4.contact_created, _updated, _deleted, or an "
        "action such as wix.ecom.v1.order_approved. JSON options take text or @FILE.",
    )
    send.add_argument("event", metavar="EVENT")
    send.add_argument(
        "--to", required=True, metavar="URL", help="e.g. http://127.0.0.1:8000/webhooks"
    )
    send.add_argument("--instance", required=True, metavar="ID", help="the event's instanceId")
    send.add_argument(
        "--app-id", default=os.environ.get("WIX_APP_ID"), help="appId (default: WIX_APP_ID)"
    )
    json_options = {
        "--data": "fields merged over the event's default data",
        "--entity": "a domain event's entity (created, updated, deleted)",
        "--modified-fields": "an update's modifiedFields",
        "--action-body": "an action event's body",
        "--identity": 'who acted (default {"identityType": "APP"})',
        "--account-info": "the envelope's accountInfo",
    }
    for option, meaning in json_options.items():
        send.add_argument(option, type=_json_object, default=None, metavar="JSON", help=meaning)
    key = send.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-file", type=Path, help="sign with this RSA private key (PEM)")
    key.add_argument(
        "--emulator",
        metavar="URL",
        help="sign with a running emulator's key, e.g. http://127.0.0.1:8765",
    )
    send.set_defaults(run=_webhook_send)


def _urls(args: argparse.Namespace) -> int:
    base = args.base.rstrip("/")
    if not base.startswith("https://") or len(base) <= len("https://"):
        raise ConfigurationError(f"--base {args.base}: Wix loads app surfaces over https only")
    rows = [
        ("Custom element widget: script URL", base + args.widget_script),
        ("Custom element widget: tag name", args.widget_tag),
        ("Widget settings panel: panel URL", base + args.panel),
        ("Webhooks: callback URL (every event)", base + "/webhooks"),
        ("Backend API the widget calls", base + "/api/settings, " + base + "/get-instance"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print("Then: WIX_APP_ID and WIX_APP_SECRET (OAuth), WIX_APP_PUBLIC_KEY (Webhooks' public key).")
    return 0


def _json_object(text: str) -> dict[str, object]:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as error:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {error.strerror}") from None
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text[:40]!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"not a JSON object: {text[:40]!r}")
    return value


def _webhook_send(args: argparse.Namespace) -> int:
    import asyncio
    import time

    import httpx

    from wixapp.testing.webhooks import (
        TestWebhook,
        post_webhook,
        sign_test_webhook,
        sign_with_emulator,
    )

    webhook = TestWebhook(
        event_type=args.event,
        instance_id=args.instance,
        app_id=args.app_id,
        data=args.data or {},
        entity=args.entity,
        modified_fields=args.modified_fields,
        action_body=args.action_body,
        identity=args.identity,
        account_info=args.account_info,
    )
    now = time.time()
    if args.emulator:
        body = asyncio.run(sign_with_emulator(webhook, args.emulator, now=now))
    else:
        body = sign_test_webhook(webhook, now=now, private_key_pem=_read_key(args.key_file))
    try:
        response = asyncio.run(post_webhook(args.to, body))
    except httpx.HTTPError as error:
        raise ConfigurationError(f"--to {args.to}: {error!r}") from None
    print(f"HTTP {response.status_code}")
    if response.text:
        print(response.text)
    return 0 if response.is_success else 1


def _read_key(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise ConfigurationError(f"--key-file {path}: {error.strerror}") from None


def _app_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--app",
        default=os.environ.get("WIXAPP_APP"),
        metavar="MODULE:ATTR",
        help="an app built on create_app, instead of wixapp's own (default: WIXAPP_APP)",
    )
    command.add_argument(
        "--factory", action="store_true", help="MODULE:ATTR is a function that builds the app"
    )


def _migrations_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--migrations",
        default=None,
        metavar="LOCATION",
        help="the app's own Alembic scripts, a folder or package:folder (default: "
        "WIXAPP_MIGRATIONS)",
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from wixapp.config import load_serve_settings, load_settings
    from wixapp.server.stack import choose_stack

    if args.no_migrate:
        # Worker processes read the environment themselves, so say it there.
        os.environ["WIXAPP_MIGRATE_ON_START"] = "false"
    load_settings()  # fail now, naming any missing variable
    limits = load_serve_settings()
    target, factory = _app_target(args)
    stack = choose_stack(args.stack)
    logging.getLogger("wixapp").info("serving on uvicorn with %s and %s", stack.loop, stack.http)
    with shared_metrics(args.workers):
        uvicorn.run(
            target,
            factory=factory,
            host=args.host,
            port=args.port,
            workers=args.workers,
            loop=stack.loop,
            # The stack's protocols cut off slow headers and bodies (WIXAPP_HEADER_TIMEOUT,
            # WIXAPP_BODY_TIMEOUT); beyond WIXAPP_MAX_CONNECTIONS new requests are answered 503.
            http=stack.http,
            limit_concurrency=limits.max_connections,
            log_config=_log_config(args),
        )
    return 0


@contextlib.contextmanager
def shared_metrics(workers: int) -> Iterator[None]:
    """Several workers share their metrics through files in a fresh folder (removed at
    exit), so any worker's /metrics answers for all; a PROMETHEUS_MULTIPROC_DIR already
    set is used as it is."""
    from wixapp.metrics import MULTIPROCESS_DIR_VARIABLE, multiprocess_dir

    if workers <= 1 or multiprocess_dir() is not None:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="wixapp-metrics-") as folder:
        os.environ[MULTIPROCESS_DIR_VARIABLE] = folder  # the workers inherit it
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR_VARIABLE]


def _app_target(args: argparse.Namespace) -> tuple[str, bool]:
    """The import string uvicorn serves (each worker imports it), checked here first so a
    typo is one clear line rather than a worker's traceback."""
    from uvicorn.importer import ImportFromStringError, import_from_string

    if not args.app:
        return WIXAPP_APP, True
    sys.path.insert(0, os.getcwd())  # as `uvicorn module:app` finds the app's modules
    try:
        import_from_string(args.app)
    except ImportFromStringError as error:
        raise ConfigurationError(f"--app {args.app}: {error}") from None
    return args.app, args.factory


def _rate_limit_switch(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--no-rate-limit",
        dest="rate_limit",
        action="store_false",
        help="do not play Wix's rate limit (200 calls a minute per instance; on by default)",
    )


def _emulator(args: argparse.Namespace) -> int:
    from wixapp.emulator import serve

    serve(
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        allowed_hosts=args.allow_host,
        dashboard_port=args.dashboard_port,
        log_config=_log_config(args),  # wixapp's format, as `wixapp serve` logs
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from wixapp.config import load_database_url, load_migrations
    from wixapp.store import migrate

    migrations = args.migrations or load_migrations()
    applied = migrate(args.database_url or load_database_url(), app_migrations=migrations)
    both = " (wixapp's and the app's)" if migrations else ""
    if not applied:
        print(f"wixapp: the database schema was already up to date{both}; nothing applied")
    for history, steps in (("wixapp's", applied.wixapp), ("the app's", applied.app)):
        if steps:
            print(f"wixapp: applied {history} migrations: {'; '.join(steps)}")
    return 0


def _revision(args: argparse.Namespace) -> int:
    from alembic import command
    from alembic.util import CommandError

    from wixapp.config import load_database_url, load_migrations
    from wixapp.store import app_alembic_config

    migrations = args.migrations or load_migrations()
    if not migrations:
        raise ConfigurationError("name the app's migrations: --migrations or WIXAPP_MIGRATIONS")
    database_url = args.database_url or load_database_url()
    config = app_alembic_config(migrations, database_url=database_url)
    try:
        command.revision(config, message=args.message, autogenerate=args.autogenerate)
    except CommandError as error:
        raise ConfigurationError(f"{error} (run `wixapp migrate` first?)") from None
    return 0


def _new(args: argparse.Namespace) -> int:
    from wixapp.scaffold import create_project

    folder = create_project(args.name, args.directory, wixapp_spec=args.wixapp)
    print(f"wixapp: created {folder}")
    print(f"  cd {os.path.relpath(folder)} && make test   # then `make demo`; see README.md")
    return 0


def _app_under_demo(args: argparse.Namespace, import_string: str | None) -> AppUnderDemo:
    from wixapp.demo import AppUnderDemo

    return AppUnderDemo(
        import_string=import_string,
        factory=args.factory,
        widget_tag=args.widget_tag,
        widget_script=args.widget_script,
        panel=args.panel,
        dashboard_page=args.dashboard_page,
    )


def _dev(args: argparse.Namespace) -> int:
    from wixapp.devloop import DevLoop, run_dev

    project = Path.cwd()
    source = project / "src"
    if source.is_dir():  # a project not installed yet imports from its src layout
        sys.path.insert(0, str(source))  # (the reloader's worker gets the parent's sys.path)
    import_string, factory = _app_target(args)
    args.factory = factory
    loop = DevLoop(
        app=_app_under_demo(args, import_string),
        project=project,
        port=args.port,
        emulator_port=args.emulator_port,
        dashboard_port=args.dashboard_port,
        rate_limit=args.rate_limit,
        frontend=args.frontend,
        log_config=_log_config(args),
    )
    return run_dev(loop)


def _demo(args: argparse.Namespace) -> int:
    from wixapp.demo import run_demo

    target = _app_under_demo(args, _app_target(args)[0] if args.app else None)
    return run_demo(
        once=args.once,
        port=args.port,
        emulator_port=args.emulator_port,
        rate_limit=args.rate_limit,
        database_url=args.database_url,
        app=target,
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
