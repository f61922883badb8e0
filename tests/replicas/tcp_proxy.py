"""A small TCP forwarder: a second address for one server, which a test can open, close and count."""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0):
        self.target = target
        self.host = host
        self.port = port
        self.accepted = 0
        self._frozen: set[int] = set()
        self._held: set[int] = set()  # accepted while hanging: never answered
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.host, self.port))
        server.listen(64)
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Every connection cut, new ones refused at once."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            # close() alone leaves a listening socket that a thread is blocked in accept() on open until one more
            # connection arrives (which would then be forwarded); shutdown() wakes that accept() up at once
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def freeze(self) -> None:
        """Every open connection goes silent, as behind a dead route: bytes vanish, nothing is closed.
        New connections work."""
        with self._lock:
            self._frozen.update(id(conn) for conn in self._conns)

    def hang(self) -> None:
        """A database that hangs: open connections go silent (freeze) and new ones are accepted but never
        answered, until `resume()`."""
        self.freeze()
        self._hanging = True

    def resume(self, cut: bool = False) -> None:
        """New connections work again. Frozen ones stay dead, as after a real outage; with `cut` they are
        closed instead, as a database restarted during the outage resets them when the route comes back."""
        self._hanging = False
        if not cut:
            return
        with self._lock:
            dead = [conn for conn in self._conns if id(conn) in self._frozen or id(conn) in self._held]
            self._held.clear()
        for conn in dead:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    _hanging = False

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            if self._server is not server:  # stopped meanwhile: refused
                client.close()
                return
            if self._hanging:
                with self._lock:
                    self._conns.append(client)  # held open, never answered; closed by stop() or resume(cut=True)
                    self._held.add(id(client))
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._server is not server:  # stopped while connecting upstream: cut as well
                    client.close()
                    upstream.close()
                    return
                self.accepted += 1
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if id(src) not in self._frozen:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
