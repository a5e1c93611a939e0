"""`GET /openapi.json`: the OpenAPI 3.1 description of every HTTP route the server registers.

`OPERATIONS` describes each (path, method) once, in aiohttp's spelling of the route (`resource.canonical`,
so `/verify/{code}.json`). The served document holds exactly the operations the running app registered
(a channel without credentials serves no webhook, so none is listed), and tests/bots/test_openapi.py
checks that, with every channel on, the app's route table and `OPERATIONS` are the same set: a route
added without its description, or a description left after its route, fails CI.

Every refusal has a JSON body: `Error` (`{"error": code, "message": text}`) from the web chat, the pages'
JSON and the server itself, `WebhookRefusal` (`{"error": code}`, the same whatever the cause) from the
webhooks. HTML pages answer their own error pages.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bots.web_json import json_response

OPENAPI_VERSION = "3.1.0"
Operation = dict[str, Any]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, _ref("Error"))


def _refusal(description: str) -> dict[str, Any]:
    return _json(description, _ref("WebhookRefusal"))


def _header(name: str, description: str, *, required: bool = True, pattern: str | None = None
            ) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def _path(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _body(schema: dict[str, Any], media: str = "application/json", required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {media: {"schema": schema}}}


# Answers shared by many operations.
BAD_JSON = _error("The body is not JSON (bad UTF-8, nested deeper than 64, a number out of range), or not "
                  "the shape this route takes.")
NOT_FOUND = _error("No such thing (or a link that is not valid).")
TOO_LARGE = _error("The body is over the server's limit (`XASO_MAX_REQUEST_BYTES`, 15 MB by default).")
RATE_LIMITED = _error("Too many requests from this client or user; try again later.")
UNAUTHORIZED_CHAT = _error("No session: missing, malformed or unknown bearer token.")
WEBHOOK_OK = {"description": "Stored; it is handled off the request path. An event already received is "
                             "answered 200 again and changes nothing."}
WEBHOOK_MALFORMED = _refusal("Not a delivery this webhook takes (not JSON, wrong shape, out of its time "
                             "window). Counted in `xaso_webhook_rejections_total`.")
WEBHOOK_UNAUTHORIZED = _refusal("Missing or wrong secret or signature: no detail is given. Counted in "
                                "`xaso_webhook_rejections_total`.")
DASHBOARD_PAGE = {"200": _html("The page."), "401": _html("Not logged in (no live dashboard session)."),
                  "403": _html("The session's user has no dashboard role (audited).")}
CSRF_FORM = _body({"type": "object", "required": ["csrf"], "properties": {"csrf": {"type": "string"}}},
                  "application/x-www-form-urlencoded")
TEXT_LIMIT = ("Text is limited (`XASO_MAX_TEXT_CHARS`); a lone surrogate or NUL in any text is replaced by "
              "U+FFFD.")

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "A stable code: bad_request, bad_json, unauthorized, "
                                                   "not_found, too_large, rate_limited, too_long, internal…"},
        "message": {"type": "string", "description": "A short text in the user's language."},
        "replies": {"type": "array", "items": _ref("Reply")}}},
    "WebhookRefusal": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "enum": ["malformed", "unauthorized", "not_found", "too_large",
                                             "unavailable"]}}},
    "Button": {"type": "object", "required": ["label", "data"], "properties": {
        "label": {"type": "string"}, "data": {"type": "string"}, "url": {"type": "string"}}},
    "Reply": {"type": "object", "required": ["text", "buttons"], "properties": {
        "text": {"type": "string"}, "buttons": {"type": "array", "items": _ref("Button")},
        "audio_url": {"type": ["string", "null"]}, "image_url": {"type": ["string", "null"]},
        "document_url": {"type": ["string", "null"]}, "request_location": {"type": "boolean"},
        "request_phone": {"type": "boolean"}, "kind": {"type": "string"},
        "copy": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"}, "value": {"type": "string"}}}}}},
    "SessionRequest": {"type": "object", "properties": {
        "language": {"type": "string", "enum": ["vi", "en"], "default": "vi"},
        "commune": {"type": "string", "pattern": "^[A-Z]{2,4}$",
                    "description": "The commune the villager belongs to, from its own entry link "
                                   "(`/chat?commune=SM`): one of XASO_COMMUNES. Without it the villager "
                                   "is asked, where the installation serves several communes."}}},
    "Session": {"type": "object", "required": ["token", "user_id"], "properties": {
        "token": {"type": "string", "description": "The bearer token of this chat (URL-safe base64)."},
        "user_id": {"type": "string"}}},
    "Message": {
        "description": "Exactly one of text, button, location, contact, attachment. " + TEXT_LIMIT,
        "type": "object", "properties": {
            "id": {"type": ["string", "integer"],
                   "description": "The client's id: a repeat is handled once."},
            "text": {"type": "string"},
            "button": {"type": "string", "minLength": 1, "maxLength": 256,
                       "description": "The `data` of a button the server sent."},
            "location": {"type": "object", "required": ["lat", "lon"], "properties": {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
            "contact": {"type": "object", "required": ["phone"], "properties": {
                "phone": {"type": "string", "maxLength": 32}}},
            "attachment": {"type": "object", "required": ["filename", "content_type", "data"], "properties": {
                "filename": {"type": "string"}, "content_type": {"type": "string"},
                "data": {"type": "string", "contentEncoding": "base64",
                         "description": "JPEG, PNG or PDF, checked by its bytes; 10 MB at most."}}}},
        "oneOf": [{"required": [kind]} for kind in ("text", "button", "location", "contact", "attachment")]},
    "Replies": {"type": "object", "required": ["replies"], "properties": {
        "replies": {"type": "array", "items": _ref("Reply")}}},
    "Pushed": {"type": "object", "required": ["messages"], "properties": {
        "messages": {"type": "array", "maxItems": 100, "items": {"allOf": [
            _ref("Reply"),
            {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}]}}}},
    "TelegramUpdate": {"type": "object", "required": ["update_id"], "additionalProperties": True,
                       "description": "A Bot API Update (message or callback_query).",
                       "properties": {"update_id": {"type": "integer", "minimum": 0},
                                      "message": {"type": "object"}, "callback_query": {"type": "object"}}},
    "ZaloOAEvent": {"type": "object", "required": ["event_name", "timestamp"], "additionalProperties": True,
                    "description": "A Zalo OA v3 webhook event (ids and timestamp as strings).",
                    "properties": {"app_id": {"type": "string"}, "event_name": {"type": "string"},
                                   "timestamp": {"type": "string", "pattern": "^[0-9]{1,20}$",
                                                 "description": "Epoch milliseconds."},
                                   "sender": {"type": "object", "properties": {"id": {"type": "string"}}},
                                   "recipient": {"type": "object"},
                                   "message": {"type": "object", "properties": {
                                       "text": {"type": "string"}, "msg_id": {"type": "string"},
                                       "attachments": {"type": "array", "items": {"type": "object"}}}}}},
    "ZaloBotUpdate": {"type": "object", "additionalProperties": True,
                      "description": "A Zalo Bot API update, with or without the `{ok, result}` wrapper.",
                      "properties": {"ok": {"type": "boolean"}, "result": {"type": "object"},
                                     "event_name": {"type": "string"}, "message": {"type": "object"}}},
    "StripeEvent": {"type": "object", "required": ["id", "type", "data"], "additionalProperties": True,
                    "properties": {"id": {"type": "string", "maxLength": 57}, "type": {"type": "string"},
                                   "data": {"type": "object", "required": ["object"],
                                            "properties": {"object": {"type": "object"}}}}},
    "HookEvent": {"type": "object", "required": ["type", "data"], "additionalProperties": True,
                  "description": "For `onestop`: `{\"type\": \"dossier.status\", \"data\": {\"code\", "
                                 "\"status\", \"note\"?}}`.",
                  "properties": {"type": {"type": "string"}, "data": {"type": "object"}}},
    "Verification": {"type": "object", "required": ["valid", "code"], "additionalProperties": True,
                     "properties": {"valid": {"type": "boolean"},
                                    "reasons": {"type": "array", "items": {"type": "string"}},
                                    "signer": {"type": ["string", "null"]},
                                    "signer_name": {"type": ["string", "null"]},
                                    "issuer_name": {"type": ["string", "null"]},
                                    "signed_at": {"type": ["string", "null"]}, "code": {"type": "string"},
                                    "kind": {"type": ["string", "null"]},
                                    "document": {"type": ["object", "null"]}, "subject": {},
                                    "verify_url": {"type": "string"}, "envelope": {},
                                    "commune": {"type": "object", "required": ["code", "name"],
                                                "description": "The commune that signed it (known "
                                                               "from its certificate or the document).",
                                                "properties": {"code": {"type": "string"},
                                                               "name": {"type": "string"}}}}},
    "LoudspeakerFeed": {"type": "object", "required": ["format", "entries"], "properties": {
        "format": {"const": "xaso-loudspeaker-feed/1"}, "commune": {"type": "string"},
        "hamlet": {"type": ["string", "null"]},
        "entries": {"type": "array", "items": {"type": "object", "description": "A signed envelope."}}}},
    "Stats": {"type": "object", "required": ["generated_at", "sections", "map"], "properties": {
        "generated_at": {"type": "string"}, "commune": {"type": "string"},
        "sections": {"type": "object", "additionalProperties": {"type": "object"}},
        "map": {"type": "object"}}},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
}

SECURITY_SCHEMES: dict[str, Any] = {
    "chatBearer": {"type": "http", "scheme": "bearer",
                   "description": "The token from `POST /api/chat/sessions` (URL-safe base64)."},
    "dashboardSession": {"type": "apiKey", "in": "cookie", "name": "xaso_dash",
                         "description": "The dashboard session, set by `POST /dashboard/login`; named "
                                        "`__Host-xaso_dash` when XASO_PUBLIC_URL is https."},
    "telegramSecret": {"type": "apiKey", "in": "header", "name": "X-Telegram-Bot-Api-Secret-Token",
                       "description": "The secret given to setWebhook (`XASO_TELEGRAM_WEBHOOK_SECRET`)."},
    "zaloBotSecret": {"type": "apiKey", "in": "header", "name": "X-Bot-Api-Secret-Token",
                      "description": "The Zalo Bot webhook secret (`XASO_ZALO_BOT_WEBHOOK_SECRET`)."},
}

CHAT = ["web chat"]
WEBHOOKS = ["webhooks"]
PAGES = ["pages"]
DASHBOARD = ["dashboard"]
OPERATIONS_TAG = ["operations"]

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/", "GET"): {"tags": PAGES, "summary": "Redirects to the web chat.",
                   "responses": {"302": {"description": "To `/chat`."}}},
    ("/chat", "GET"): {"tags": CHAT, "summary": "The web chat page.",
                       "responses": {"200": _html("The page.")}},
    ("/static/{name}", "GET"): {
        "tags": CHAT, "summary": "A file of the chat page or the dashboard (scripts, styles, map).",
        "parameters": [_path("name", "A file shipped in bots/static/ (may hold `/`: `leaflet/leaflet.js`).")],
        "responses": {"200": {"description": "The file."}, "304": {"description": "Not modified."},
                      "404": NOT_FOUND}},
    ("/api/chat/sessions", "POST"): {
        "tags": CHAT, "summary": "Opens a chat: a new user and its bearer token.",
        "requestBody": _body(_ref("SessionRequest"), required=False),
        "responses": {"200": _json("The session.", _ref("Session")),
                      "400": _error("Not JSON (`bad_json`), or a commune not served here (`bad_commune`)."),
                      "413": TOO_LARGE,
                      "429": RATE_LIMITED}},
    ("/api/chat/messages", "POST"): {
        "tags": CHAT, "summary": "Sends one message; the answers come back in the response.",
        "security": [{"chatBearer": []}], "requestBody": _body(_ref("Message")),
        "responses": {"200": _json("The assistant's replies.", _ref("Replies")), "400": BAD_JSON,
                      "401": UNAUTHORIZED_CHAT,
                      "413": _error("The text or attachment is too large (with the polite reply)."),
                      "429": RATE_LIMITED}},
    ("/api/chat/messages", "GET"): {
        "tags": CHAT, "summary": "Messages pushed later (a doctor's answer, a decision), oldest first.",
        "security": [{"chatBearer": []}],
        "parameters": [_query("after", "Only messages with a larger `id` (0 by default).",
                              {"type": "string", "pattern": "^[0-9]{1,19}$"})],
        "responses": {"200": _json("Up to 100 messages.", _ref("Pushed")),
                      "400": _error("`after` is not a whole number within 0 … 2⁶³−1."),
                      "401": UNAUTHORIZED_CHAT}},
    ("/telegram/webhook", "POST"): {
        "tags": WEBHOOKS, "summary": "Telegram Bot API updates (when XASO_TELEGRAM_TOKEN is set).",
        "security": [{"telegramSecret": []}], "requestBody": _body(_ref("TelegramUpdate")),
        "responses": {"200": WEBHOOK_OK, "400": WEBHOOK_MALFORMED, "401": WEBHOOK_UNAUTHORIZED,
                      "413": TOO_LARGE,
                      "503": _error("The update could not be stored (the database is restarting or out "
                                    "of reach): Telegram delivers it again.")}},
    ("/zalo/webhook", "POST"): {
        "tags": WEBHOOKS, "summary": "Zalo Official Account events (when XASO_ZALO_APP_ID and "
                                     "XASO_ZALO_OA_SECRET are set). Never a 5xx.",
        "parameters": [_header("X-ZEvent-Signature", "`mac=` + hex SHA-256 of app_id + raw body + the body's "
                               "`timestamp` + the OA secret key (plain hash, not HMAC).")],
        "requestBody": _body(_ref("ZaloOAEvent")),
        "responses": {"200": WEBHOOK_OK, "400": WEBHOOK_MALFORMED, "401": WEBHOOK_UNAUTHORIZED,
                      "413": TOO_LARGE}},
    ("/zalo/bot/webhook", "POST"): {
        "tags": WEBHOOKS, "summary": "Zalo Bot API updates (when XASO_ZALO_BOT_TOKEN is set). Never a 5xx.",
        "security": [{"zaloBotSecret": []}], "requestBody": _body(_ref("ZaloBotUpdate")),
        "responses": {"200": WEBHOOK_OK, "400": WEBHOOK_MALFORMED, "401": WEBHOOK_UNAUTHORIZED,
                      "413": TOO_LARGE}},
    ("/stripe/webhook", "POST"): {
        "tags": WEBHOOKS, "summary": "Stripe events about our PaymentIntents.",
        "parameters": [_header("Stripe-Signature",
                               "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"{t}.{raw body}\" under "
                               "XASO_STRIPE_WEBHOOK_SECRET>` (several v1 during a rotation); ±300 s.")],
        "requestBody": _body(_ref("StripeEvent")),
        "responses": {"200": _json("Handled, or acknowledged without effect.", {
                          "type": "object", "properties": {"status": {"type": "string", "enum": [
                              "settled", "failed", "ignored", "duplicate", "paid_after_cancel",
                              "amount_mismatch"]}}}),
                      "400": WEBHOOK_MALFORMED, "401": WEBHOOK_UNAUTHORIZED, "413": WEBHOOK_MALFORMED,
                      "503": _refusal("Our database failed: Stripe delivers it again (Retry-After).")}},
    ("/hooks/{source}", "POST"): {
        "tags": WEBHOOKS, "summary": "Events from other systems, signed with Standard Webhooks 1.0.",
        "parameters": [_path("source", "A configured source (`onestop`)."),
                       _header("webhook-id", "The delivery's id: a repeat is handled once (≤ 128 chars)."),
                       _header("webhook-timestamp", "Unix seconds; ±300 s.", pattern="^[0-9]{1,12}$"),
                       _header("webhook-signature",
                               "`v1,<base64 HMAC-SHA256 of \"{id}.{timestamp}.{body}\">`, several separated "
                               "by spaces.")],
        "requestBody": _body(_ref("HookEvent")),
        "responses": {"200": _json("Done, or `{\"status\": \"duplicate\"}`.", {"type": "object"}),
                      "400": WEBHOOK_MALFORMED, "401": WEBHOOK_UNAUTHORIZED,
                      "404": _refusal("Unknown source."), "413": _refusal("Over 256 KiB."),
                      "422": _json("Refused by the source's rules (an unknown dossier, an impossible move).",
                                   {"type": "object", "required": ["error"]})}},
    ("/verify/{code}.json", "GET"): {
        "tags": PAGES, "summary": "The check of a signed result, for machines (`xaso verify` reads it).",
        "parameters": [_path("code", "The verification code printed on the document.", "^[^/.]+$")],
        "responses": {"200": _json("The verification.", _ref("Verification")), "404": NOT_FOUND}},
    ("/verify/{code}", "GET"): {
        "tags": PAGES, "summary": "The check of a signed result, for people.",
        "parameters": [_path("code", "The verification code printed on the document.", "^[^/.]+$")],
        "responses": {"200": _html("Valid or not, and why."), "404": _html("No document with this code.")}},
    ("/loudspeaker/feed", "GET"): {
        "tags": PAGES, "summary": "What a hamlet's loudspeakers play: the signed announcements.",
        "parameters": [_query("commune", "The code of a commune the installation serves (`XASO_COMMUNES`): "
                                         "its announcements, signed with its key; the installation's own "
                                         "commune when absent."),
                       _query("hamlet", "A hamlet id of that commune's commune.yml: the announcements for "
                                        "it and for the whole commune; when absent, those for the whole "
                                        "commune.")],
        "responses": {"200": _json("The feed, oldest first.", _ref("LoudspeakerFeed")),
                      "400": _error("Unknown commune, or a hamlet not of the commune.")}},
    ("/pay/{token}", "GET"): {
        "tags": PAGES, "summary": "The card payment page of one order (a signed, expiring link).",
        "parameters": [_path("token", "The link's signed token.")],
        "responses": {"200": _html("The page (or the payment's state)."), "404": _html("Not a valid link.")}},
    ("/shop/photos/{name}", "GET"): {
        "tags": PAGES, "summary": "A product photo named by data/communes/LB/products.yml.",
        "parameters": [_path("name", "The photo's file name.")],
        "responses": {"200": {"description": "The photo.", "content": {"image/jpeg": {}, "image/png": {}}},
                      "404": NOT_FOUND}},
    ("/lessons/img/{name}", "GET"): {
        "tags": PAGES, "summary": "A picture of a digital-skills lesson, named by data/lessons/*.yml.",
        "parameters": [_path("name", "The picture's file name.")],
        "responses": {"200": {"description": "The picture.", "content": {"image/jpeg": {}, "image/png": {}}},
                      "404": NOT_FOUND}},
    ("/places/{place}", "GET"): {
        "tags": PAGES, "summary": "A place's audio-guide page (its QR poster opens it): text, photo, voice.",
        "parameters": [_path("place", "The place's id in data/tourism/places.yml."),
                       _query("lang", "vi or en (default: the browser's language).")],
        "responses": {"200": _html("The page."), "404": _html("No such place.")}},
    ("/places/{place}/audio", "GET"): {
        "tags": PAGES, "summary": "The place's story spoken (MP3), for its page's player.",
        "parameters": [_path("place", "The place's id."), _query("lang", "vi or en.")],
        "responses": {"200": {"description": "The voice.", "content": {"audio/mpeg": {}}},
                      "404": NOT_FOUND, "503": {"description": "No speech engine could speak it."}}},
    ("/tourism/img/{name}", "GET"): {
        "tags": PAGES, "summary": "A photo of a place or homestay, named by data/tourism/*.yml.",
        "parameters": [_path("name", "The photo's file name.")],
        "responses": {"200": {"description": "The photo.", "content": {"image/jpeg": {}, "image/png": {}}},
                      "404": NOT_FOUND}},
    ("/media/{media_id}", "GET"): {
        "tags": PAGES, "summary": "A stored file, through a signed, expiring link.",
        "parameters": [_path("media_id", "The file's id."), _query("exp", "The link's expiry."),
                       _query("sig", "The link's signature."),
                       _query("by", "The viewer a sealed link names.")],
        "responses": {"200": {"description": "The file."}, "404": NOT_FOUND}},
    ("/healthz", "GET"): {"tags": OPERATIONS_TAG, "summary": "Liveness.",
                          "responses": {"200": _json("Up.", _ref("Health"))}},
    ("/metrics", "GET"): {
        "tags": OPERATIONS_TAG, "summary": "Prometheus metrics (`xaso_webhook_rejections_total`, …).",
        "responses": {"200": {"description": "The exposition.", "content": {"text/plain": {}}}}},
    ("/openapi.json", "GET"): {
        "tags": OPERATIONS_TAG, "summary": "This document: the routes this server serves.",
        "responses": {"200": _json("OpenAPI 3.1.", {"type": "object"})}},
    ("/api/stats", "GET"): {
        "tags": DASHBOARD, "summary": "The dashboard's figures as JSON (dashboard session only).",
        "security": [{"dashboardSession": []}],
        "parameters": [_query("lang", "vi or en: the session's language from now on.")],
        "responses": {"200": _json("The figures.", _ref("Stats")),
                      "401": _json("No live session.", _ref("Error")),
                      "403": _json("No dashboard role (audited).", _ref("Error"))}},
    ("/dashboard", "GET"): {"tags": DASHBOARD, "summary": "Today at a glance.",
                            "security": [{"dashboardSession": []}],
                            "parameters": [_query("lang", "vi or en.")], "responses": DASHBOARD_PAGE},
    ("/dashboard/map", "GET"): {"tags": DASHBOARD, "summary": "The hamlet map of open reports.",
                                "security": [{"dashboardSession": []}],
                                "parameters": [_query("lang", "vi or en.")], "responses": DASHBOARD_PAGE},
    ("/dashboard/deadletters", "GET"): {
        "tags": DASHBOARD, "summary": "Messages given up, with replay.",
        "security": [{"dashboardSession": []}],
        "parameters": [_query("lang", "vi or en."), _query("replayed", "The id just replayed.")],
        "responses": DASHBOARD_PAGE},
    ("/dashboard/audit", "GET"): {
        "tags": DASHBOARD, "summary": "The audit log and its chain's verdict.",
        "security": [{"dashboardSession": []}],
        "parameters": [_query("lang", "vi or en."), _query("actor", "Filter (≤ 64)."),
                       _query("action", "Filter (≤ 64).")], "responses": DASHBOARD_PAGE},
    ("/dashboard/deadletters/{id}/replay", "POST"): {
        "tags": DASHBOARD, "summary": "Replays a dead letter (CSRF token in the form).",
        "security": [{"dashboardSession": []}],
        "parameters": [_path("id", "The dead letter's id.", "^[0-9]{1,19}$")],
        "requestBody": CSRF_FORM,
        "responses": {"303": {"description": "Back to the list."}, **DASHBOARD_PAGE,
                      "400": _html("The body is not a readable form."),
                      "403": _html("No dashboard role, or a wrong CSRF token."),
                      "404": _html("Not a dead letter.")}},
    ("/dashboard/logout", "POST"): {
        "tags": DASHBOARD, "summary": "Ends the session (CSRF token in the form).",
        "security": [{"dashboardSession": []}],
        "requestBody": CSRF_FORM,
        "responses": {**DASHBOARD_PAGE, "400": _html("The body is not a readable form.")}},
    ("/dashboard/login", "GET"): {
        "tags": DASHBOARD, "summary": "The login page of a one-time link (a button: a preview does not "
                                      "spend it).",
        "parameters": [_query("token", "The link's one-time token."), _query("lang", "vi or en.")],
        "responses": {"200": _html("The page, with a pre-login cookie."), "403": _html("No token.")}},
    ("/dashboard/login", "POST"): {
        "tags": DASHBOARD, "summary": "Spends the one-time link and opens a session.",
        "parameters": [_query("lang", "vi or en.")],
        "requestBody": _body({"type": "object", "required": ["token", "csrf"], "properties": {
            "token": {"type": "string"}, "csrf": {"type": "string"}}}, "application/x-www-form-urlencoded"),
        "responses": {"303": {"description": "Logged in: to `/dashboard`, with the session cookie."},
                      "400": _html("The body is not a readable form (a bad multipart boundary, bad bytes)."),
                      "403": _html("A used, expired or unknown link, a missing pre-login cookie or a wrong "
                                   "CSRF token (audited).")}},
}


def registered(app: web.Application) -> set[tuple[str, str]]:
    """The (path, method) pairs the app serves (HEAD, which aiohttp adds to every GET, left out)."""
    found = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        found.add((route.resource.canonical, route.method))
    return found


def document(server_url: str, served: set[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The OpenAPI document of `served` (every operation described when None)."""
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), operation in OPERATIONS.items():
        if served is not None and (path, method) not in served:
            continue
        described = {"operationId": f"{method.lower()} {path}", **operation}
        if "requestBody" in described:  # any body may be over the server's limit
            described["responses"] = {**described["responses"],
                                      "413": described["responses"].get("413", TOO_LARGE)}
        paths.setdefault(path, {})[method.lower()] = described
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "xaso (Xã Số) HTTP API", "version": "1",
                 "description": (__doc__ or "").split("\n\n", 1)[-1].strip()},
        "servers": [{"url": server_url}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }


class OpenAPI:
    """`GET /openapi.json`, built at the first request from the app's route table (complete by then)."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._document: dict[str, Any] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/openapi.json", self.serve)]

    async def serve(self, request: web.Request) -> web.Response:
        if self._document is None:
            self._document = document(self.server_url, registered(request.app))
        return json_response(self._document)
