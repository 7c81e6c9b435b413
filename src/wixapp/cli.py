"""``wixapp serve | emulator | migrate | demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from wixapp.errors import ConfigurationError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if not args.quiet else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    try:
        result: int = args.run(args)
    except ConfigurationError as error:
        print(f"wixapp: {error.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wixapp", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the backend against Wix (env config)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate at start")
    serve.set_defaults(run=_serve)

    emulator = commands.add_parser("emulator", help="run the local Wix API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.set_defaults(run=_emulator)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--database-url", default=None, help="default: WIXAPP_DATABASE_URL")
    migrate.set_defaults(run=_migrate)

    demo = commands.add_parser("demo", help="the whole flow offline, against the emulator")
    demo.add_argument("--once", action="store_true", help="exit after the flow")
    demo.add_argument("--port", type=int, default=8000, help="backend port (0: any free)")
    demo.add_argument("--emulator-port", type=int, default=8765, help="(0: any free)")
    demo.add_argument("--database-url", default=None, help="default: a SQLite file in ./var")
    demo.set_defaults(run=_demo)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from wixapp.config import load_settings
    from wixapp.server import create_app

    if args.no_migrate:
        # Worker processes read the environment themselves, so say it there.
        os.environ["WIXAPP_MIGRATE_ON_START"] = "false"
    settings = load_settings()  # fail now, naming any missing variable
    if args.workers > 1:
        # Each worker process builds its own app from the environment.
        uvicorn.run(
            "wixapp.server:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
        )
    else:
        uvicorn.run(create_app(settings), host=args.host, port=args.port)
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from wixapp.emulator import serve

    serve(host=args.host, port=args.port)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from wixapp.config import load_database_url
    from wixapp.store import migrate

    migrate(args.database_url or load_database_url())
    print("wixapp: the database schema is up to date")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from wixapp.demo import run_demo

    return run_demo(
        once=args.once,
        port=args.port,
        emulator_port=args.emulator_port,
        database_url=args.database_url,
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
