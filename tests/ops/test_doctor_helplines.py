"""`helpline doctor` checks every helpline: one section per slug, a failure
in one region's configuration fails the run and is reported in its own
section, and a Signal number is never printed. Real database, real accounts;
only the Graph API and signal-cli-rest-api are faked."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

import respx
from sqlmodel import select

from helpline.config import Settings
from helpline.ops import doctor
from helpline.ops.helplines import HelplineSpec, add_helpline
from helpline.services import build_services
from helpline.store.models import Helpline, User
from tests.conftest import GRAPH, SIGNAL_API
from tests.two_helplines import TILBURG_SIGNAL, ZEELAND_SIGNAL, ZEELAND_WA

ZEELAND_POLICY = """\
retention_days = 90
stats_threshold = 5

[[partners]]
id = "zvw"
name = { nl = "Zorg Zeeland" }

[menu]
sexual_health = "zvw"
"""


def staff(settings: Settings, helpline_id: str, partners: Iterable[str] = (),
          volunteer: bool = True) -> None:
    """Active accounts of `helpline_id`, through the accounts service."""
    from helpline.console import accounts

    services = build_services(settings)
    try:
        if volunteer:
            accounts.create_user(services, f"vol-{helpline_id}", "volunteer",
                                 "correct horse battery staple", alias=f"Vol {helpline_id}",
                                 helpline_id=helpline_id)
        for partner in partners:
            accounts.create_user(services, f"p-{helpline_id}-{partner}", "partner",
                                 "correct horse battery staple",
                                 alias=f"P {helpline_id} {partner}", partner_id=partner,
                                 helpline_id=helpline_id)
    finally:
        services.db.dispose()


def zeeland(settings: Settings, *, policy: str | None = ZEELAND_POLICY,
            whatsapp: str | None = ZEELAND_WA, signal: str | None = ZEELAND_SIGNAL) -> str:
    services = build_services(settings)
    try:
        row = add_helpline(services, HelplineSpec(
            slug="zeeland", name="Zeeland", whatsapp_phone_number_id=whatsapp,
            signal_number=signal, policy=policy))
    finally:
        services.db.dispose()
    return row.id


def platforms(mock: respx.MockRouter, registered: list[str]) -> None:
    mock.get(f"{GRAPH}/1000000001").respond(200, json={"id": "1000000001"})
    mock.get(f"{GRAPH}/{ZEELAND_WA}").respond(200, json={"id": ZEELAND_WA})
    mock.get(f"{SIGNAL_API}/v1/about").respond(200, json={"mode": "json-rpc"})
    mock.get(f"{SIGNAL_API}/v1/accounts").respond(200, json=registered)


def run(settings: Settings, registered: list[str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    with respx.mock(assert_all_called=False) as mock:
        platforms(mock, [TILBURG_SIGNAL, ZEELAND_SIGNAL] if registered is None else registered)
        code = doctor.main(settings, out)
    text = out.getvalue()
    for number in (TILBURG_SIGNAL, ZEELAND_SIGNAL):
        assert number not in text  # compared, never printed
    return code, text


def section(text: str, slug: str) -> list[str]:
    """The lines of one helpline's section."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"[helpline {slug} "))
    out = []
    for line in lines[start + 1:]:
        if not line or line.startswith("["):
            break
        out.append(line)
    return out


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def healthy(migrated: Settings, settings_factory: Callable[..., Settings]) -> Settings:
    settings = settings_factory(public_url="https://helpline.example")
    zeeland_id = zeeland(settings)
    staff(settings, "default", ("ggd", "pmw"))
    staff(settings, zeeland_id, ("zvw",))
    return settings


def test_two_healthy_helplines_pass_with_a_section_each(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    code, text = run(healthy(migrated, settings_factory))
    assert code == 0, text
    assert "[helpline default (Helpline)]" in text
    own = section(text, "zeeland")
    assert failures(own) == [], text
    assert "ok   policy: its own policy file, valid (6 languages, retention 90 days)" in own
    assert "ok   numbers: WhatsApp and Signal, not shared with another helpline" in own
    assert f"ok   whatsapp: phone number id {ZEELAND_WA} accepted for the access token" in own
    assert "ok   signal: its Signal number is registered with signal-cli-rest-api" in own
    assert "ok   partners: 1 partner(s), each with an account" in own
    assert "ok   volunteers: 1 active volunteer account(s)" in own
    assert "ok   statistics: stats_threshold 5" in own


def test_a_region_without_volunteers_partners_or_numbers_fails_in_its_own_section(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(public_url="https://helpline.example")
    staff(settings, "default", ("ggd", "pmw"))
    zeeland(settings, whatsapp=None, signal=None,
            policy=ZEELAND_POLICY.replace("stats_threshold = 5", "stats_threshold = 1"))
    code, text = run(settings)
    assert code == 1
    assert failures(section(text, "default")) == []
    problems = failures(section(text, "zeeland"))
    assert [line.split(":")[0] for line in problems] == [
        "FAIL numbers", "FAIL partners", "FAIL statistics", "FAIL volunteers"], problems
    assert "no texter can reach it" in problems[0]
    assert "zvw (menu sexual_health)" in problems[1]
    assert "stats_threshold is 1" in problems[2]


def test_a_disabled_volunteer_does_not_count(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = healthy(migrated, settings_factory)
    services = build_services(settings)
    try:
        with services.db.session() as session:
            user = session.exec(select(User).where(User.username == "vol-default")).one()
            user.disabled = True
    finally:
        services.db.dispose()
    code, text = run(settings)
    assert code == 1
    assert failures(section(text, "default")) == [
        "FAIL volunteers: no active volunteer account: texters wait in a queue nobody reads. "
        "Create one (admin console, Accounts)."]
    assert failures(section(text, "zeeland")) == []


def test_two_helplines_with_the_same_number_fail_both(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    """The default helpline's number lives in the settings: someone set it to
    Zeeland's after Zeeland was added (the database cannot refuse that)."""
    settings = healthy(migrated, settings_factory)
    clash = settings.model_copy(update={"whatsapp_phone_number_id": ZEELAND_WA})
    code, text = run(clash)
    assert code == 1
    assert ("FAIL numbers: its WhatsApp phone number id is also helpline zeeland's: a delivery "
            "to it cannot be told apart. Each helpline needs its own.") in section(text, "default")
    assert any("also helpline default's" in line for line in failures(section(text, "zeeland")))


def test_an_unregistered_signal_number_and_a_broken_stored_policy_fail(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    settings = healthy(migrated, settings_factory)
    services = build_services(settings)
    try:
        with services.db.session() as session:
            row = session.exec(select(Helpline).where(Helpline.slug == "zeeland")).one()
            row.policy = "retention_days = -1\n"
    finally:
        services.db.dispose()
    code, text = run(settings, registered=[TILBURG_SIGNAL])
    assert code == 1
    assert failures(section(text, "default")) == []
    problems = failures(section(text, "zeeland"))
    assert problems[0].startswith("FAIL policy: its own policy file is not valid: ")
    assert "retention_days" in problems[0]
    assert problems[1].startswith("FAIL signal: its Signal number is not registered")
    assert "FAIL volunteers" not in text  # the accounts are checked without the policy


def test_a_database_that_is_down_skips_the_helplines_with_a_warning(
    settings_factory: Callable[..., Settings], tmp_path: object
) -> None:
    settings = settings_factory().model_copy(
        update={"database_url": f"sqlite:///{tmp_path}/missing/helpline.db"})
    code, text = run(settings)
    assert code == 1
    assert "warn helplines: not checked: the database is not usable (above)." in text
    assert "[helpline" not in text


def test_a_review_mark_a_texter_would_read_is_a_warning(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    """An older copy of the example policy carried REVIEW inside its
    emergency text; the doctor names the table so the operator takes it out.
    The shipped example carries its marks as comments only."""
    from helpline.ops.doctor_helplines import unreviewed
    from routing.policy_file import default_policy

    assert unreviewed(default_policy()) == []
    settings = settings_factory(public_url="https://helpline.example")
    marked = ZEELAND_POLICY + '\n[emergency]\nnl = "Fier 088-2080000 (dag en nacht). REVIEW"\n'
    zeeland_id = zeeland(settings, policy=marked)
    staff(settings, "default", ("ggd", "pmw"))
    staff(settings, zeeland_id, ("zvw",))
    code, text = run(settings)
    assert code == 0, text  # a warning, not a failure
    assert ("warn policy: texters would read REVIEW in emergency: check those texts and take "
            "the mark out.") in section(text, "zeeland")
    assert not any("REVIEW" in line for line in section(text, "default"))
