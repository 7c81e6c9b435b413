"""Per-instance notes on FastAPI: wixapp's backend, with the app's own routes added.

Run against the emulator: ``python examples/run.py fastapi``; against Wix: set WIX_APP_ID,
WIX_APP_SECRET (and WIX_APP_PUBLIC_KEY for webhooks), then ``python examples/fastapi/app.py``.
"""

from __future__ import annotations

import os
from typing import Annotated

import uvicorn
from fastapi import Body, Depends

from wixapp import Caller
from wixapp.server import create_app, current_caller

app = create_app()  # /get-instance, /api/settings, /webhooks, CORS, JSON errors
notes: dict[str, list[str]] = {}  # a real app keeps these in its database, by instance_id

CallerDep = Annotated[Caller, Depends(current_caller)]


@app.get("/api/notes")
async def read_notes(caller: CallerDep) -> dict[str, object]:
    return {"instanceId": caller.instance_id, "notes": notes.get(caller.instance_id, [])}


@app.post("/api/notes")
async def add_note(caller: CallerDep, text: Annotated[str, Body(embed=True)]) -> dict[str, object]:
    notes.setdefault(caller.instance_id, []).append(text[:200])
    return {"instanceId": caller.instance_id, "notes": notes[caller.instance_id]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
