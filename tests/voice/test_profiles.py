"""Voice profiles: stored per user, validated, and actually used by the recogniser."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from nexus_server_ext.store.models import VoiceProfile
from nexus_server_ext.voice.profiles import VoiceProfileStore


async def put_profile(jp_fetch: Any, body: dict[str, Any]) -> Any:
    return await jp_fetch(
        "nexus/api/v1/voice/profile", method="PUT", body=json.dumps(body), raise_error=False
    )


async def test_profile_round_trip_and_validation(jp_fetch: Any, nexus_services: Any) -> None:
    empty = json.loads((await jp_fetch("nexus/api/v1/voice/profile")).body)
    assert (empty["vocabulary"], empty["hotwords"], empty["language"]) == ([], [], None)

    r = await put_profile(jp_fetch, {"vocabulary": ["polars", "seaborn", "polars"], "hotwords": ["xarray"]})
    assert r.code == 200
    stored = json.loads((await jp_fetch("nexus/api/v1/voice/profile")).body)
    assert stored["vocabulary"] == ["polars", "seaborn"] and stored["hotwords"] == ["xarray"]
    assert stored["updated_at"]

    for bad in (
        {"vocabulary": ["x" * 65]},
        {"language": "English!"},
        {"hotwords": "xarray"},
        {"colour": "red"},
    ):
        r = await put_profile(jp_fetch, bad)
        assert r.code == 400, bad
        assert json.loads(r.body)["error"] == "invalid_request"
    # A refused update leaves the stored profile as it was.
    again = json.loads((await jp_fetch("nexus/api/v1/voice/profile")).body)
    assert again["vocabulary"] == ["polars", "seaborn"]


async def test_profiles_are_per_user(database: Any) -> None:
    from nexus_server_ext.store.users import UserStore

    users, profiles = UserStore(database), VoiceProfileStore(database)
    alice, bob = await users.ensure("alice"), await users.ensure("bob")
    await profiles.put(alice, ["pandas"], [], "en")
    await profiles.put(alice, ["numpy"], ["scipy"], None)  # replaces, does not add a row
    assert (await profiles.get(alice)).vocabulary == ["numpy"]
    assert (await profiles.get(bob)).vocabulary == []
    assert database.call(lambda s: s.scalar(select(func.count()).select_from(VoiceProfile))) == 1


async def test_vocabulary_changes_what_is_heard(audio: Any, transcribe: Any, jp_fetch: Any) -> None:
    clip = audio.speech("plot it with seaborn")
    before = json.loads((await transcribe(clip, commands="false")).body)["text"].lower()
    assert "seaborn" not in before  # tiny.en does not know the library...
    await put_profile(jp_fetch, {"vocabulary": ["seaborn", "polars"]})
    after = json.loads((await transcribe(clip, commands="false")).body)["text"].lower()
    assert "seaborn" in after  # ...until the user's profile teaches it
