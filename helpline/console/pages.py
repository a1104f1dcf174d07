"""The HTML console under `/console`: server-rendered Jinja pages on the same
service layer as the JSON API; `helpline/static/console.js` adds the live
parts (events, actions) through that API.

Every value is escaped by Jinja's autoescape, and the page script inserts
message bodies with `textContent` only; the Content-Security-Policy (no inline
script or style, nothing from other origins) is the second wall behind that.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from helpline.console import conversation_service as svc
from helpline.console import (
    held_strings,
    home_strings,
    navigation,
    safety_strings,
    wellbeing,
)
from helpline.console.deps import OptionalUser
from helpline.console.sessions import SessionUser
from helpline.errors import HelplineError
from helpline.http import ServicesDep
from helpline.services import Services

TEMPLATE_DIR = Path(__file__).resolve().parent.parent.parent / "templates" / "console"
templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
LOCAL = ZoneInfo("Europe/Amsterdam")


def duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes = seconds // 60
    if minutes < 60:
        return f"{max(minutes, 1) if seconds >= 30 else 0} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d"


def hhmm(value: str | None) -> str:
    """Server-side fallback time (the page script shows the browser's own)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return ""
    return moment.astimezone(LOCAL).strftime("%d-%m %H:%M")


templates.env.filters["duration"] = duration
templates.env.filters["hhmm"] = hhmm
templates.env.globals["nav_for"] = navigation.nav_for

router = APIRouter(prefix="/console", include_in_schema=False)

STRINGS: dict[str, dict[str, str]] = {
    "nl": {
        "app": "Hulplijn",
        "sign_in": "Inloggen",
        "username": "Gebruikersnaam",
        "password": "Wachtwoord",
        "totp": "Code uit je authenticator-app",
        "sign_in_failed": "Inloggen is niet gelukt. Controleer je gegevens.",
        "throttled": "Te veel pogingen. Wacht een minuut en probeer opnieuw.",
        "sign_out": "Uitloggen",
        "queue": "Wachtrij",
        "mine": "Mijn gesprekken",
        "closed": "Gesloten",
        "all": "Alle",
        "empty": "Geen gesprekken.",
        "more": "Meer laden",
        "urgent": "Urgent",
        "waiting": "wacht",
        "claimed_by": "opgepakt door",
        "held_by_colleague": "Bij een collega",
        "unclaimed": "niet opgepakt",
        "window": "WhatsApp-venster open tot",
        "window_closed": "WhatsApp-venster gesloten: antwoord wordt vastgehouden",
        "language": "Taal",
        "claim": "Oppakken",
        "release": "Teruggeven",
        "transfer": "Overdragen aan",
        "transfer_button": "Overdragen",
        "close": "Sluiten",
        "reply": "Antwoord",
        "send": "Versturen",
        "saved_replies": "Standaardantwoorden",
        "choose": "Kies…",
        "notes": "Notities (alleen voor collega's)",
        "add_note": "Notitie opslaan",
        "labels": "Onderwerpen",
        "save_labels": "Onderwerpen opslaan",
        "referral": "Doorverwijzen (de texter moet eerst JA zeggen)",
        "partner": "Partner",
        "referral_note": "Notitie voor de partner",
        "propose": "Toestemming vragen",
        "referral_note_from": "Notitie bij de doorverwijzing",
        "retry": "Opnieuw versturen",
        "failed": "Niet afgeleverd",
        "back": "Terug naar de wachtrij",
        "bot": "bot",
        "texter": "texter",
        "notifications": "Meldingen aanzetten",
        "notify_text": "Nieuw gesprek in de wachtrij",
        "live_on": "Live",
        "live_off": "Verbinding verbroken, opnieuw verbinden…",
        "no_text_role": "Deze rol leest geen gesprekken.",
        "not_found": "Dit gesprek bestaat niet of je mag het niet zien.",
        "stopped": (
            "De texter heeft STOP gestuurd: er gaat niets weg tot die opnieuw schrijft."
        ),
        "error": "Dat lukte niet",
        "status_queued": "in wachtrij",
        "status_sent": "verstuurd",
        "status_delivered": "afgeleverd",
        "status_read": "gelezen",
        "status_failed": "mislukt",
        "status_held": "vastgehouden",
        "status_received": "ontvangen",
        "status_sending": "bezig",
        "label_health": "Gezondheid",
        "label_safety": "Veiligheid",
        "label_money": "Geld",
        "label_housing": "Wonen",
        "label_legal": "Juridisch",
        "label_police_municipality": "Politie en gemeente",
        "label_work": "Werk",
        "label_other": "Overig",
        "other_language": "English",
        "skip": "Naar de inhoud",
        "referral_state_asked": "gevraagd",
        "referral_state_accepted": "ja gezegd",
        "referral_state_declined": "nee gezegd",
        "referral_state_lapsed": "verlopen",
        "referral_state_withdrawn": "ingetrokken",
        "practice": "oefening",
        "media_show_photo": "Foto tonen",
        "media_show_video": "Video tonen",
        "media_download": "Downloaden",
        "media_warning_media:not_cleaned": "deze PDF is versleuteld of beschadigd, dus wat erin "
        "staat over wie hem maakte (auteur, software, data) kon niet worden verwijderd: open hem "
        "voorzichtig en stuur hem niet door",
        "media_pending": "wordt opgehaald",
        "media_failed": "kon niet worden opgehaald: vraag om het opnieuw te sturen",
        "media_refused": "niet bewaard (te groot of geen foto, spraakbericht, video of PDF): "
        "vraag om het op een andere manier te sturen",
        "kind_image": "[foto]",
        "kind_audio": "[spraakbericht of geluid]",
        "kind_video": "[video]",
        "kind_document": "[document]",
        "kind_sticker": "[sticker]",
        "kind_location": "[locatie: niet getoond, zodat niemand via de hulplijn te vinden is]",
        "kind_contacts": "[contactkaart: niet getoond, er staan nummers van anderen in]",
        "kind_unsupported": (
            "[een soort bericht dat de hulplijn niet kan tonen: vraag de texter het te typen]"
        ),
        "earlier_hidden": "Oudere berichten zijn ingekort.",
    },
    "en": {
        "app": "Helpline",
        "sign_in": "Sign in",
        "username": "Username",
        "password": "Password",
        "totp": "Code from your authenticator app",
        "sign_in_failed": "Sign-in failed. Check your details.",
        "throttled": "Too many attempts. Wait a minute and try again.",
        "sign_out": "Sign out",
        "queue": "Queue",
        "mine": "My conversations",
        "closed": "Closed",
        "all": "All",
        "empty": "No conversations.",
        "more": "Load more",
        "urgent": "Urgent",
        "waiting": "waiting",
        "claimed_by": "claimed by",
        "held_by_colleague": "With a colleague",
        "unclaimed": "unclaimed",
        "window": "WhatsApp window open until",
        "window_closed": "WhatsApp window closed: replies are held",
        "language": "Language",
        "claim": "Claim",
        "release": "Release",
        "transfer": "Transfer to",
        "transfer_button": "Transfer",
        "close": "Close",
        "reply": "Reply",
        "send": "Send",
        "saved_replies": "Saved replies",
        "choose": "Choose…",
        "notes": "Notes (colleagues only)",
        "add_note": "Save note",
        "labels": "Topics",
        "save_labels": "Save topics",
        "referral": "Refer (the texter must say YES first)",
        "partner": "Partner",
        "referral_note": "Note for the partner",
        "propose": "Ask for consent",
        "referral_note_from": "Referral note",
        "retry": "Send again",
        "failed": "Not delivered",
        "back": "Back to the queue",
        "bot": "bot",
        "texter": "texter",
        "notifications": "Turn on notifications",
        "notify_text": "New conversation in the queue",
        "live_on": "Live",
        "live_off": "Disconnected, reconnecting…",
        "no_text_role": "This role does not read conversations.",
        "not_found": "This conversation does not exist or you may not see it.",
        "stopped": "The texter sent STOP: nothing is sent until they write again.",
        "error": "That did not work",
        "status_queued": "queued",
        "status_sent": "sent",
        "status_delivered": "delivered",
        "status_read": "read",
        "status_failed": "failed",
        "status_held": "held",
        "status_received": "received",
        "status_sending": "sending",
        "label_health": "Health",
        "label_safety": "Safety",
        "label_money": "Money",
        "label_housing": "Housing",
        "label_legal": "Legal",
        "label_police_municipality": "Police and municipality",
        "label_work": "Work",
        "label_other": "Other",
        "other_language": "Nederlands",
        "skip": "Skip to content",
        "referral_state_asked": "asked",
        "referral_state_accepted": "said yes",
        "referral_state_declined": "said no",
        "referral_state_lapsed": "lapsed",
        "referral_state_withdrawn": "withdrawn",
        "practice": "practice",
        "media_show_photo": "Show photo",
        "media_show_video": "Show video",
        "media_download": "Download",
        "media_warning_media:not_cleaned": "this PDF is encrypted or damaged, so what it says "
        "about who made it (author, software, dates) could not be removed: open it with care, "
        "do not forward it",
        "media_pending": "being fetched",
        "media_failed": "could not be fetched: ask the texter to send it again",
        "media_refused": "not kept (too large or not a photo, voice note, video or PDF): "
        "ask the texter to send it another way",
        "kind_image": "[photo]",
        "kind_audio": "[voice message or audio]",
        "kind_video": "[video]",
        "kind_document": "[document]",
        "kind_sticker": "[sticker]",
        "kind_location": "[location: not shown, so that nobody can be found through the helpline]",
        "kind_contacts": "[contact card: not shown, it holds other people's numbers]",
        "kind_unsupported": (
            "[a kind of message the helpline cannot show: ask the texter to type it]"
        ),
        "earlier_hidden": "Older messages are not shown.",
    },
}


def strings(language: str | None) -> dict[str, str]:
    lang = language if language in STRINGS else "nl"
    return {**STRINGS[lang], **home_strings.STRINGS[lang], **held_strings.STRINGS[lang],
            **safety_strings.STRINGS[lang]}


def page_language(user: SessionUser | None, request: Request) -> str:
    """The account's language when signed in (the choice is saved there);
    before sign-in the one asked for with ?lang=, else Dutch."""
    if user is not None:
        return user.ui_language if user.ui_language in STRINGS else "nl"
    asked = request.query_params.get("lang")
    return asked if asked in STRINGS else "nl"


def to_sign_in(request: Request) -> RedirectResponse:
    """An anonymous visit to a page: the sign-in page (a 303, not a 401 with
    a form, so a plain visit logs no error in the browser)."""
    lang = request.query_params.get("lang")
    suffix = f"?lang={lang}" if lang in STRINGS else ""
    return RedirectResponse(navigation.SIGN_IN + suffix, status_code=303)


def not_for_role(request: Request, user: SessionUser) -> HTMLResponse:
    """A page this role may not open: 403, with a link to the role's own home."""
    return render(request, "no_access.html", user, status_code=403,
                   home=navigation.home_for(user.role))


def render(
    request: Request,
    name: str,
    user: SessionUser | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    lang = page_language(user, request)
    services: Services = request.app.state.services
    prompt = wellbeing.shift_prompt(services, user, lang)
    # The header names the helpline the page shows (none before a choice).
    helpline_name = (services.helpline(user.helpline_id).name
                     if user is not None and not user.choosing else None)
    return templates.TemplateResponse(
        request,
        name,
        {"t": strings(lang), "lang": lang, "user": user, "shift_prompt": prompt,
         "helpline_name": helpline_name, **context},
        status_code=status_code,
    )


def _partners(services: Services, lang: str, helpline_id: str) -> list[tuple[str, str]]:
    policy = services.policy_for(helpline_id)
    default = policy.default_language
    return [(p.id, p.name.get(lang) or p.name.get(default) or p.id) for p in policy.partners]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: OptionalUser) -> Response:
    if user is not None:
        return RedirectResponse(navigation.home_for(user.role), status_code=303)
    return render(request, "login.html", None)


@router.get("/shift-end", response_class=HTMLResponse)
def shift_end_page(request: Request, services: ServicesDep) -> Response:
    """Where a volunteer lands after signing out: thanks and where to get
    support. Open without a session (it is the policy's public text)."""
    lang = page_language(None, request)
    return render(request, "shift_end.html", None,
                  support=wellbeing.support_text(services, lang))


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    user: OptionalUser,
    services: ServicesDep,
    view: str = Query(default="queue", max_length=16),
) -> Response:
    if user is None:
        return to_sign_in(request)
    if user.role not in ("volunteer", "partner"):
        # `/console` is where every sign-in lands: send other roles home.
        return RedirectResponse(navigation.home_for(user.role), status_code=303)
    if view not in svc.VIEWS:
        view = "queue"
    page = svc.list_conversations(services, user, view)
    return render(
        request,
        "queue.html",
        user,
        view=view,
        items=page.items,
        next_cursor=page.next_cursor,
        views=("queue", "mine", "closed"),
    )


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(
    conversation_id: str, request: Request, user: OptionalUser, services: ServicesDep
) -> Response:
    if user is None:
        return to_sign_in(request)
    if user.role not in ("volunteer", "partner"):
        return not_for_role(request, user)
    try:
        detail = svc.get_conversation(services, user, conversation_id)
    except HelplineError as exc:
        return render(request, "not_found.html", user, status_code=exc.status_code)
    svc.record_open(services, user, conversation_id)
    lang = page_language(user, request)
    language = detail.get("language") or services.policy_for(user.helpline_id).default_language
    return render(
        request,
        "conversation.html",
        user,
        c=detail,
        labels=svc.LABELS,
        partners=_partners(services, lang, user.helpline_id) if user.role == "volunteer" else [],
        saved=svc.saved_replies(services, language, user.helpline_id),
        colleagues=svc.colleagues(services, user),
    )
