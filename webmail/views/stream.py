"""GET /events/: the logged-in user's event stream as Server-Sent Events.

Runs as an async generator under ASGI so an open tab costs a coroutine, not a thread; the
blocking waits on the event bus run in a worker thread, bounded by KEEPALIVE_SECONDS.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse

from webmail import events

KEEPALIVE_SECONDS = 15.0


def _last_event_id(request: HttpRequest, user_id: int) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or ""
    try:
        return max(0, int(raw))
    except ValueError:
        # A fresh tab: start from now; the page it loaded is already current.
        return events.get_last_event_id(user_id)


async def event_stream(request: HttpRequest) -> HttpResponseBase:
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    user_id = int(user.pk)
    last_id = await sync_to_async(_last_event_id)(request, user_id)

    async def stream() -> AsyncIterator[str]:
        nonlocal last_id
        yield "retry: 2000\n\n"
        while True:
            batch = await sync_to_async(events.wait_for_events, thread_sensitive=False)(
                user_id, last_id, KEEPALIVE_SECONDS
            )
            if not batch:
                yield ": keep-alive\n\n"
                continue
            for event in batch:
                last_id = event.id
                payload = json.dumps(event.data, separators=(",", ":"))
                yield f"id: {event.id}\nevent: {event.kind}\ndata: {payload}\n\n"

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must not buffer the stream
    return response
