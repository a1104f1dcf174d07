"""Master key rotation covers every helpline: three helplines hold texters,
messages and media (inline and in files); `helpline keys rotate` re-wraps
every data key, and afterwards, with the old master key gone, each
helpline's texter is still found by their blind index (a new delivery lands
in the same conversation) and everything of theirs decrypts. Real app, real
CLI, real keys; only the Graph API is faked."""

from __future__ import annotations

import base64
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import select

from helpline import crypto
from helpline.config import Settings
from helpline.main import create_app
from helpline.ops.helplines import HelplineSpec, add_helpline
from helpline.store.db import make_engine
from helpline.store.migrate import upgrade
from helpline.store.models import Conversation, MediaItem
from tests.conftest import GRAPH, FakeClock, key
from tests.media import samples
from tests.media.helpers import graph_media, post_media, run_fetcher, wa_media_payload
from tests.two_helplines import TILBURG_WA, ZEELAND_WA, agent_in, post_wa, wa_to

OLD = key("master")
NEW = key("master-2027")
BRABANT_WA = "3000000003"
NUMBERS = {"default": TILBURG_WA, "zeeland": ZEELAND_WA, "brabant": BRABANT_WA}
_ids = count(1)


def ring(master: str, previous: str | None = None) -> crypto.KeyRing:
    return crypto.KeyRing(base64.b64decode(master),
                          base64.b64decode(previous) if previous else None)


def media_to(number_id: str, media_id: str, mime_type: str) -> dict[str, Any]:
    payload = wa_media_payload("image", media_id, mime_type=mime_type)
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number_id
    return payload


def conversations_of(app: FastAPI, helpline_id: str) -> list[str]:
    with app.state.services.db.session() as session:
        return list(session.exec(select(Conversation.id).where(
            Conversation.helpline_id == helpline_id)).all())


@pytest.fixture
def base(settings_factory: Callable[..., Settings], tmp_path: Path) -> Settings:
    settings = settings_factory(media_dir=tmp_path / "media", media_inline_max_bytes=4096,
                                key_store=tmp_path / "helpline.keystore", master_key=OLD)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return settings


@respx.mock
def test_rotation_keeps_every_helplines_texters_findable_and_readable(
    base: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from helpline import cli

    respx.post(url__startswith=GRAPH).mock(return_value=httpx.Response(
        200, json={"messages": [{"id": f"wamid.OUT{next(_ids)}"}]}))
    small, big = samples.jpeg_with_gps(), samples.big_jpeg(0.05)
    before = create_app(base, clock=clock, run_worker=False, run_inbox=False)
    ids = {"default": "default"}
    for slug in ("zeeland", "brabant"):
        ids[slug] = add_helpline(before.state.services, HelplineSpec(
            slug=slug, name=slug.title(), whatsapp_phone_number_id=NUMBERS[slug])).id
    with TestClient(before) as client:
        for n, (slug, number) in enumerate(NUMBERS.items()):
            # The same person writes to all three: three unrelated texters.
            assert post_wa(client, wa_to(number, f"hallo {slug}",
                                         message_id=f"wamid.ROT{slug}")) == 200
            for photo, media_id in ((small, f"91{n}1"), (big, f"91{n}2")):
                graph_media(respx.mock, media_id, photo, mime_type="image/jpeg")
                post_media(client, media_to(number, media_id, "image/jpeg"))
        while run_fetcher(before):
            pass
    with before.state.services.db.session() as session:
        stored = session.exec(select(MediaItem)).all()
        assert sorted(m.state for m in stored) == ["stored"] * 6
        assert sum(1 for m in stored if m.blob_ref is not None) == 3  # the big ones: files
    before.state.services.db.dispose()

    # Step 1 and 2 of the procedure: new key current, old one previous; rotate.
    monkeypatch.chdir(tmp_path)
    for name, value in (("DATABASE_URL", base.database_url), ("INDEX_KEY", key("index")),
                        ("MASTER_KEY", NEW), ("MASTER_KEY_PREVIOUS", OLD),
                        ("MEDIA_DIR", str(base.media_dir)), ("KEY_STORE", str(base.key_store))):
        monkeypatch.setenv(f"HELPLINE_{name}", value)
    assert cli.main(["keys", "rotate"]) == 0

    # Every data key (texters', accounts', media's) is under the new key alone.
    engine = make_engine(base.database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, wrapped, master_key_id FROM data_keys")).all()
    engine.dispose()
    assert len(rows) == 3  # one per texter; their media are sealed under the same key
    new_only, old_only = ring(NEW), ring(OLD)
    for key_id, wrapped, master_id in rows:
        assert master_id == new_only.current_id
        new_only.unwrap(bytes(wrapped), key_id)
        with pytest.raises(crypto.CryptoError):
            old_only.unwrap(bytes(wrapped), key_id)

    # Step 3: the old key is destroyed. Each helpline's texter is found again.
    clock.advance(minutes=5)
    after = create_app(base.model_copy(update={
        "master_key": new_only_secret(), "master_key_previous": None}),
        clock=clock, run_worker=False, run_inbox=False)
    with TestClient(after) as client:
        for slug, number in NUMBERS.items():
            (conversation_id,) = conversations_of(after, ids[slug])
            assert post_wa(client, wa_to(number, f"weer {slug}",
                                         message_id=f"wamid.AGAIN{slug}")) == 200
            assert conversations_of(after, ids[slug]) == [conversation_id]
            volunteer = agent_in(client, "volunteer", ids[slug], f"Vol{slug}")
            response = volunteer.get(f"/api/conversations/{conversation_id}")
            assert response.status_code == 200, response.text
            messages = response.json()["messages"]
            bodies = [m["body"] for m in messages if m["direction"] == "in" and m["body"]]
            assert bodies == [f"hallo {slug}", f"weer {slug}"]
            media = [item for m in messages for item in m["media"]]
            assert len(media) == 2
            for item in media:
                served = volunteer.get(item["url"])
                assert served.status_code == 200
                assert served.content[:2] == b"\xff\xd8"  # a JPEG, decrypted
                assert len(served.content) == item["size"]


def new_only_secret() -> Any:
    from pydantic import SecretStr

    return SecretStr(NEW)
