"""Safety alerts in Chromium (issue 18, part 1): Roos drafts an alert from a
conversation and sees it masked; she cannot approve her own draft; Iris
approves it on the alerts page and the subscriber receives it through the
(fake) Graph API; the page shows counts, never recipients."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from helpline.store.models import Conversation, Texter
from tests.browser.conftest import Live, sign_in
from tests.browser.test_console_e2e import wait_until

SUBSCRIBER = "31655555555"


def test_a_drafted_alert_is_masked_and_sent_after_a_second_volunteer_approves(
    live: Live, browser: Any
) -> None:
    roos_user, roos_secret = live.account("volunteer", "Roos")
    iris_user, iris_secret = live.account("volunteer", "Iris")
    live.texter_writes("MELDINGEN", wa_id=SUBSCRIBER)
    live.texter_writes("Een klant met AB-12-CD sloeg me, hij belt van 06-98765432",
                       wa_id="31600000001")
    services = live.services
    with services.db.session() as session:
        reporter = session.exec(select(Texter).where(Texter.alerts_since.is_(None))).one()  # type: ignore[union-attr]
        conversation_id = session.exec(
            select(Conversation.id).where(Conversation.texter_id == reporter.id)).one()
        pseudonym = reporter.pseudonym

    errors: list[str] = []
    roos_ctx, iris_ctx = browser.new_context(), browser.new_context()
    roos, iris = roos_ctx.new_page(), iris_ctx.new_page()
    for page in (roos, iris):
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    sign_in(roos, live.base_url, roos_user, roos_secret)
    roos.goto(f"{live.base_url}/console/conversations/{conversation_id}")
    roos.get_by_role("button", name="Oppakken").click()
    roos.locator("#reply-body").wait_for()
    roos.get_by_label("Tekst van de melding").fill(
        f"Gevaarlijke klant, auto AB-12-CD, belt van 06-98765432 (gemeld door {pseudonym})")
    roos.get_by_role("button", name="Concept opslaan").click()
    preview = roos.locator("#alert-preview")
    preview.wait_for()
    assert preview.text_content() == (
        "Gevaarlijke klant, auto AB-**-**, belt van 06-9876**** (gemeld door [...])")
    roos.get_by_role("link", name="Veiligheidsmeldingen").first.click()
    roos.wait_for_url(f"{live.base_url}/console/alerts")
    draft = roos.locator("li.alert-item[data-state='draft']")
    assert "een ander moet het goedkeuren" in (draft.text_content() or "")
    assert draft.get_by_role("button", name="Goedkeuren en versturen").count() == 0
    before = len(live.graph.texts())

    sign_in(iris, live.base_url, iris_user, iris_secret)
    iris.get_by_role("link", name="Veiligheidsmeldingen").click()
    iris.wait_for_url(f"{live.base_url}/console/alerts")
    assert "AB-**-**" in iris.content()
    assert "AB-12-CD" not in iris.content()
    iris.get_by_role("button", name="Goedkeuren en versturen").click()
    iris.locator("li.alert-item[data-state='sent']").wait_for()

    def delivered() -> bool:
        return any(t.startswith("Veiligheidsmelding van de hulplijn")
                   for _id, t in live.graph.texts()[before:])

    wait_until(delivered)
    sent = [t for _id, t in live.graph.texts()[before:] if t.startswith("Veiligheidsmelding")]
    assert len(sent) == 1
    assert "AB-**-**" in sent[0]
    assert live.graph.sent[-1]["to"] == SUBSCRIBER
    iris.reload()
    item = iris.locator("li.alert-item[data-state='sent']")
    assert "1 ontvangers" in (item.text_content() or "")
    assert SUBSCRIBER not in iris.content()
    assert errors == []
    roos_ctx.close()
    iris_ctx.close()
