"""`helpline helpline add|list` and `helpline user grant` (issue 17)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from helpline.config import Settings
from helpline.errors import HelplineError

if TYPE_CHECKING:
    from helpline.services import Services


def _services(settings: Settings) -> Services:
    from helpline.services import build_services
    from helpline.store.db import make_engine
    from helpline.store.migrate import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return build_services(settings)


def helpline_add(args: argparse.Namespace, settings: Settings) -> int:
    from helpline.ops.helplines import HelplineSpec, add_helpline

    try:
        policy = Path(args.policy).read_text(encoding="utf-8") if args.policy else None
    except OSError as exc:
        print(f"helpline: cannot read the policy file: {exc.strerror}", file=sys.stderr)
        return 2
    services = _services(settings)
    try:
        row = add_helpline(services, HelplineSpec(
            slug=args.slug, name=args.name, whatsapp_phone_number_id=args.whatsapp_phone_number_id,
            signal_number=args.signal_number, policy=policy))
    except HelplineError as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    finally:
        services.db.dispose()
    print(f"created helpline slug={row.slug} id={row.id}")
    return 0


def helpline_list(args: argparse.Namespace, settings: Settings) -> int:
    from helpline.ops.helplines import list_helplines

    services = _services(settings)
    try:
        for h in list_helplines(services):
            print(f"slug={h['slug']} name={h['name']!s} "
                  f"whatsapp={h['whatsapp_phone_number_id'] or '-'} "
                  f"signal={h['signal_number'] or '-'} threshold={h['stats_threshold']}")
    finally:
        services.db.dispose()
    return 0


def user_grant(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import select

    from helpline.console import accounts, audit, memberships
    from helpline.store.models import User

    services = _services(settings)
    try:
        target = services.helplines.by_slug(args.helpline)
        if target is None:
            raise accounts.AccountInvalid(f"no helpline with slug {args.helpline!r}")
        accounts.check_role(services, args.role, args.partner, target.id)
        with services.db.session() as session:
            user = session.exec(select(User).where(User.username == args.username)).first()
            if user is None:
                raise accounts.AccountInvalid("no such account")
            memberships.grant(session, user, target.id, args.role, args.partner, services.now())
            audit.record(session, None, audit.MEMBERSHIP_GRANT, user.id, services.now(),
                         helpline_id=target.id)
    except (HelplineError, ValueError) as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    finally:
        services.db.dispose()
    print(f"granted role={args.role} helpline={args.helpline} username={args.username}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helpline = sub.add_parser("helpline", help="the helplines of this installation")
    helpline_sub = helpline.add_subparsers(dest="helpline_command", required=True)
    add = helpline_sub.add_parser("add", help="add a helpline (a region)")
    add.add_argument("--slug", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--whatsapp-phone-number-id")
    add.add_argument("--signal-number")
    add.add_argument("--policy", metavar="FILE",
                     help="its policy file (default: the installation's)")
    helpline_sub.add_parser("list", help="list the helplines")
