"""The baseline of `make bench`: a bare ASGI app answering the same fixed XML with the same server
settings as hongyan (the Python ceiling on this machine)."""

from __future__ import annotations

import sys

from hongyan.server.run import serve

BODY = (
    '<?xml version="1.0" encoding="utf-8"?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
    "<code>2</code>\n<msg>提交成功</msg>\n<smsid>16063783563405105174</smsid>\n</SubmitResult>\n"
).encode()
HEADERS = [(b"content-type", b"text/xml; charset=utf-8"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    serve(app, "127.0.0.1", int(sys.argv[1]))
