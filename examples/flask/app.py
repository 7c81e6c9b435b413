"""Per-instance notes on Flask with wixapp's Flask extension.

Run against the emulator: ``python examples/run.py flask``; against Wix: set WIX_APP_ID and
WIX_APP_SECRET (or put them in ``app.config``), then ``python examples/flask/app.py``.
"""

from __future__ import annotations

import os

from flask import Flask, g, request

from wixapp.adapters.flask import WixFlask

app = Flask(__name__)
wix = WixFlask(app)  # config: app.config, else the environment; CORS, JSON errors, /webhooks
notes: dict[str, list[str]] = {}  # a real app keeps these in its database, by instance_id


@app.get("/api/notes")
@wix.caller_required
def read_notes() -> dict[str, object]:
    caller = g.wix_caller
    return {"instanceId": caller.instance_id, "notes": notes.get(caller.instance_id, [])}


@app.post("/api/notes")
@wix.caller_required
def add_note() -> dict[str, object]:
    caller = g.wix_caller
    notes.setdefault(caller.instance_id, []).append(str(request.get_json()["text"])[:200])
    return {"instanceId": caller.instance_id, "notes": notes[caller.instance_id]}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
