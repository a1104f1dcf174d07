"""`helpline user add`: create a console account from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys

from helpline.config import Settings
from helpline.console import accounts, auth
from helpline.errors import HelplineError


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        # One line; only the line ending is stripped (spaces may be part of it).
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        # getpass would fall back to reading stdin and end in EOFError (or
        # silently take a line meant for something else).
        raise accounts.AccountInvalid(
            "no terminal to ask for the password: give it on standard input with "
            "--password-stdin, e.g. `helpline user add ... --password-stdin < file`"
        )
    try:
        first = getpass.getpass("Password (12 to 128 characters): ")
        again = getpass.getpass("Again: ")
    except EOFError:
        raise accounts.AccountInvalid("no password given (end of input)") from None
    if again != first:
        raise accounts.AccountInvalid("the passwords differ")
    return first


def user_add(args: argparse.Namespace, settings: Settings) -> int:
    from helpline.services import build_services
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    try:
        # Before anything is created: a missing password leaves no trace.
        password = read_password(args)
    except HelplineError as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    services = build_services(settings)
    try:
        helpline = services.helplines.by_slug(args.helpline)
        if helpline is None:
            raise accounts.AccountInvalid(f"no helpline with slug {args.helpline!r}")
        user, secret = accounts.create_user(
            services, args.username, args.role, password,
            alias=args.alias, partner_id=args.partner, totp_secret=args.totp_secret,
            helpline_id=helpline.id,
        )
    except HelplineError as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    finally:
        services.db.dispose()
    print(f"created role={user.role} username={user.username} alias={user.alias}")
    if args.totp_secret is None:
        # Contains the secret: show it once, for the authenticator app.
        print(f"totp_uri={auth.provisioning_uri(secret, user.username)}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="console accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create an account; prints the TOTP provisioning URI")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True,
                     choices=["volunteer", "partner", "coordinator", "admin", "national"])
    add.add_argument("--helpline", default="default",
                     help="slug of the account's helpline (default: the default helpline)")
    add.add_argument("--partner", help="partner id from the policy (partner role only)")
    add.add_argument("--alias", help="name colleagues see (default: a random neutral alias)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input instead of prompting")
    add.add_argument("--totp-secret", help="use this base32 TOTP secret instead of a new one")
    grant = user_sub.add_parser("grant", help="give an account a role in a further helpline")
    grant.add_argument("--username", required=True)
    grant.add_argument("--helpline", required=True, help="slug of the helpline")
    grant.add_argument("--role", required=True,
                       choices=["volunteer", "partner", "coordinator", "admin"])
    grant.add_argument("--partner", help="partner id from that helpline's policy")
