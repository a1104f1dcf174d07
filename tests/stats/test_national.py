"""National figures (issue 17): the sum of the regions' published figures.
An attacker who knows the national figure and every other region's
published figure tries the subtraction: it never gives a region's count
below the threshold, whatever that count is."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpline.stats import counting, national, publishing
from helpline.stats.national import combine
from tests.two_helplines import add_zeeland, agent_in, services_of

WEEK = ("week", "2026-W48", "conversations", "all", "all")


def publish(client: TestClient, counts: dict[str, int]) -> dict[str, str]:
    """Counts per helpline (by id) straight into the statistics tables, as
    intake writes them; returns the slug of each."""
    services = services_of(client.app)  # type: ignore[arg-type]
    with services.db.session() as session:
        for helpline_id, n in counts.items():
            counting.add_counts(session, {WEEK: n}, helpline_id)
    for helpline_id in counts:
        publishing.refresh(services, helpline_id=helpline_id)
    return {h: services.helpline(h).slug for h in counts}


@pytest.mark.parametrize("small", [1, 2, 3, 4])
def test_subtracting_the_other_regions_never_gives_a_small_count(
    client: TestClient, small: int
) -> None:
    zeeland = add_zeeland(client.app)  # type: ignore[arg-type]
    from helpline.ops.helplines import HelplineSpec, add_helpline

    services = services_of(client.app)  # type: ignore[arg-type]
    brabant = add_helpline(services, HelplineSpec(slug="brabant", name="Brabant")).id
    publish(client, {"default": 7, zeeland: small, brabant: 9})
    regions = national.regional(services)
    assert regions["zeeland"][WEEK] == "<5"
    figures = national.national(services)
    cell = figures[WEEK]
    assert cell.value == 16  # Tilburg 7 + Brabant 9; Zeeland's count added nowhere
    assert cell.left_out == 1
    others = sum(v[WEEK] for slug, v in regions.items()
                 if slug != "zeeland" and isinstance(v[WEEK], int))
    assert isinstance(cell.value, int)
    assert cell.value - others == 0  # the attempt: nothing of Zeeland's small count


def test_the_national_figures_do_not_change_with_a_suppressed_region(
    client: TestClient,
) -> None:
    zeeland = add_zeeland(client.app)  # type: ignore[arg-type]
    seen = []
    for small in (1, 4):
        services = services_of(client.app)  # type: ignore[arg-type]
        with services.db.session() as session:
            from sqlalchemy import text

            session.execute(text("DELETE FROM stat_counts"))
        publish(client, {"default": 6, zeeland: small})
        seen.append(national.current(services))
    assert seen[0] == seen[1]


def test_a_national_sum_below_the_threshold_is_suppressed_too() -> None:
    cells = combine({"a": {WEEK: 0}, "b": {WEEK: 3}}, 5)  # 3: a figure a region showed
    assert cells[WEEK].value == "<5"
    cells = combine({"a": {WEEK: 0}, "b": {WEEK: 0}}, 5)
    assert cells[WEEK].value == 0


def test_only_the_national_role_reads_the_national_figures(client: TestClient) -> None:
    zeeland = add_zeeland(client.app)  # type: ignore[arg-type]
    publish(client, {"default": 7, zeeland: 2})
    boss = agent_in(client, "national", "default", "Landelijk")
    answer = boss.get("/api/stats/national")
    assert answer.status_code == 200
    rows = [r for r in answer.json()["rows"] if r["bucket"] == "2026-W48"
            and r["metric"] == "conversations" and r["dimension"] == "all"]
    assert [(r["value"], r["regions_left_out"]) for r in rows] == [(7, 1)]
    assert boss.get("/api/stats").status_code == 403  # no region's own figures
    assert boss.get("/api/conversations").status_code == 403
    coordinator = agent_in(client, "coordinator", zeeland, "Zee-Coord")
    assert coordinator.get("/api/stats/national").status_code == 403
    own = coordinator.get("/api/stats").json()["rows"]
    assert {r["value"] for r in own if r["bucket"] == "2026-W48"
            and r["metric"] == "conversations" and r["dimension"] == "all"} == {"<5"}
