"""A byte proxy in front of a Docker socket, for tests that need a connection to misbehave.

    python -m tests.lab.proxy --listen unix:/tmp/p.sock --target /run/docker.sock
    python -m tests.lab.proxy --listen tcp:127.0.0.1:0 --target SOCK --cert s.pem --key s.key --client-ca ca.pem

Prints the address it listens on (one line) once ready. Stopped with SIGSTOP, it freezes every
connection without closing any - what a hung proxy or a half-open network path looks like.
With --cert it terminates TLS and requires a client certificate signed by --client-ca, as dockerd
does with --tlsverify.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True, help="unix:PATH or tcp:HOST:PORT")
    parser.add_argument("--target", required=True, help="the Docker unix socket")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--client-ca")
    args = parser.parse_args()

    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
        tls.verify_mode = ssl.CERT_REQUIRED
        tls.load_verify_locations(args.client_ca)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(args.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    kind, _, where = args.listen.partition(":")
    if kind == "unix":
        server = await asyncio.start_unix_server(handle, path=where)
        address = where
    else:
        host, _, port = where.rpartition(":")
        server = await asyncio.start_server(handle, host=host, port=int(port), ssl=tls)
        address = "{}:{}".format(*server.sockets[0].getsockname()[:2])
    print(address, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    sys.exit(0)
