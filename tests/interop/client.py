"""Interoperability check with Python's `websockets`, an independent WebSocket
implementation: echo (text and binary) and a chat exchange in the chat.v1 protocol.

Usage: python3 client.py ws://127.0.0.1:PORT   (exits 0 and prints "ok" on success)
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def next_envelope(socket, kind):
    while True:
        envelope = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if envelope["type"] == kind:
            return envelope


async def main(base):
    async with connect(f"{base}/echo") as echo:
        await echo.send("text from websockets")
        assert await echo.recv() == "text from websockets"
        await echo.send(bytes([0, 1, 2, 255]))
        assert await echo.recv() == bytes([0, 1, 2, 255])

    async with connect(f"{base}/chat", subprotocols=["chat.v1"]) as ada, connect(
        f"{base}/chat", subprotocols=["chat.v1"]
    ) as bob:
        assert ada.subprotocol == "chat.v1", ada.subprotocol
        for socket in (ada, bob):
            await next_envelope(socket, "joined")
        await ada.send(json.dumps({"type": "nick", "nick": "py-ada"}))
        assert (await next_envelope(ada, "nick"))["nick"] == "py-ada"
        for socket in (ada, bob):
            await socket.send(json.dumps({"type": "join", "rooms": ["interop-py"]}))
            await next_envelope(socket, "joined")

        await ada.send(json.dumps({"type": "send", "room": "interop-py", "text": "hello from python", "id": "py-1"}))
        ack = await next_envelope(ada, "ack")
        assert ack == {"type": "ack", "id": "py-1", "room": "interop-py", "seq": 1}, ack
        message = await next_envelope(bob, "message")
        assert (message["from"], message["text"], message["seq"]) == ("py-ada", "hello from python", 1), message

        await ada.send(json.dumps({"type": "send", "room": "interop-py"}))
        error = await next_envelope(ada, "error")
        assert error["code"] == "missing_field" and "text" in error["message"], error
    print("ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 client.py ws://HOST:PORT")
    asyncio.run(main(sys.argv[1]))
