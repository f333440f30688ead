"""Command line of the hub: vigie-hub serve, migrate, create-user, create-token."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from hub.agents.provisioning import add_agent_command
from hub.app import create_app
from hub.config import SettingsError, load_settings
from hub.db.commands import add_migrate_command
from hub.heap import settle_heap
from hub.users.commands import add_user_commands

NOISY_LOGGERS = ("amqtt", "transitions")


def _serve(args: argparse.Namespace) -> int:
    overrides = {"http_host": args.host, "http_port": args.port}
    try:
        settings = load_settings(**{key: value for key, value in overrides.items() if value})
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # log_config=None: uvicorn's loggers then share the root handler configured in main().
    # proxy_headers=False: whether X-Forwarded-* is believed is the hub's own setting
    # (auth_trust_forwarded_headers), not uvicorn's default trust of 127.0.0.1.
    app = create_app(settings)
    # After every module and model is loaded: start-up objects stay out of every collection.
    settle_heap()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        proxy_headers=False,
        ws_per_message_deflate=settings.http_ws_compression,
        timeout_graceful_shutdown=5,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of vigie-hub."""
    parser = argparse.ArgumentParser(prog="vigie-hub", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="ingest events and serve the API, stream and map until stopped"
    )
    serve.add_argument("--host", help="listen address (overrides VIGIE_HTTP_HOST)")
    serve.add_argument("--port", type=int, help="listen port (overrides VIGIE_HTTP_PORT)")
    serve.set_defaults(handler=_serve)
    add_migrate_command(commands)
    add_user_commands(commands)
    add_agent_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the vigie-hub console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # The embedded broker's libraries narrate every state change at INFO.
        for noisy in NOISY_LOGGERS:
            logging.getLogger(noisy).setLevel(logging.WARNING)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
