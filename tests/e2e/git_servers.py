"""Real git servers on 127.0.0.1 for end-to-end tests of remote access.

- :class:`SmartHttpServer`: git's smart HTTP protocol behind HTTP basic auth, answered by
  the real ``git http-backend`` run as a CGI program for each request.
- :class:`SshServer`: a real OpenSSH ``sshd`` with its own host key, config and
  authorized_keys, all in a temporary directory, accepting one client key.
- :class:`SshAgent`: a real ``ssh-agent`` on a socket of its own, holding one key.

Each binds a random free port (or socket), serves until closed, and leaves no process behind.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self
from urllib.parse import urlsplit

SSHD = Path("/usr/sbin/sshd")


@dataclass
class HttpLog:
    """What the HTTP server saw: (method, path, user or None when refused) per request."""

    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, path: str, user: str | None) -> None:
        with self.lock:
            self.requests.append((method, path, user))

    def users(self) -> set[str | None]:
        with self.lock:
            return {user for _, _, user in self.requests}


class _GitHttpHandler(BaseHTTPRequestHandler):
    # Set per server class by SmartHttpServer.
    project_root: ClassVar[Path]
    credentials: ClassVar[tuple[str, str]]
    log: ClassVar[HttpLog]

    def log_message(self, format: str, *args: object) -> None:
        pass  # The test's own output stays clean.

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _user(self) -> str | None:
        kind, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        return user if (user, password) == self.credentials else None

    def _serve(self) -> None:
        body = self._body()  # Read even when refusing, so the client sees the answer.
        path = urlsplit(self.path)
        user = self._user()
        self.log.add(self.command, path.path, user)
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path.path,
            "QUERY_STRING": path.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
            "AUTH_TYPE": "Basic",
        }
        if encoding := self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = encoding
        if protocol := self.headers.get("Git-Protocol"):
            env["HTTP_GIT_PROTOCOL"] = protocol
        done = subprocess.run(
            ["git", "http-backend"],
            input=body,
            check=False,
            env=env,
            capture_output=True,
            timeout=60,
        )
        head, sep, payload = done.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = done.stdout.partition(b"\n\n")
        if done.returncode != 0 or not sep:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class SmartHttpServer:
    """``http://127.0.0.1:PORT/<repo relative to root>`` over git http-backend, basic auth."""

    def __init__(self, project_root: Path, user: str, password: str) -> None:
        self.log = HttpLog()
        handler = type(
            "Handler",
            (_GitHttpHandler,),
            {"project_root": project_root, "credentials": (user, password), "log": self.log},
        )
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, repo: str, userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self.port}/{repo}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def keygen(path: Path, comment: str) -> Path:
    """A new passphrase-less ed25519 key pair at path and path.pub; returns path."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path


def sshd_problem() -> str | None:
    """Why no test sshd can run here, or None when one can."""
    missing = [
        name
        for name in ("ssh-keygen", "ssh-agent", "ssh-add", "git-upload-pack")
        if shutil.which(name) is None
    ] + ([str(SSHD)] if not SSHD.exists() else [])
    if missing:
        return f"missing {', '.join(missing)} (openssh-server/openssh-client: scripts/engine.sh)"
    if os.geteuid() != 0:
        return "sshd must run as root to log a user in"
    return None


class _ChildProcess:
    """A helper program the test started; leaving the ``with`` block stops it."""

    _process: subprocess.Popen[bytes] | None = None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            _stop(self._process)
            self._process = None


class SshServer(_ChildProcess):
    """sshd on 127.0.0.1:PORT for the current user, key authentication only.

    ``host_key`` is the server's private host key (``host_key.pub`` its public half), so a
    test can write exactly the known_hosts entry it wants.
    """

    def __init__(self, directory: Path, client_public_key: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.host_key = keygen(directory / "ssh_host_ed25519_key", "e2e-host")
        self.authorized_keys = directory / "authorized_keys"
        self.authorized_keys.write_text(client_public_key.read_text())
        self.stderr_path = directory / "sshd.log"
        self.port = 0

    def _config(self, port: int) -> Path:
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        return config

    def known_hosts_line(self) -> str:
        kind, key = self.host_key.with_name(self.host_key.name + ".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def url(self, repository: Path, user: str = "root") -> str:
        return f"ssh://{user}@127.0.0.1:{self.port}{repository}"

    def __enter__(self) -> Self:
        # sshd refuses to start without its privilege separation directory; the system
        # service creates it, and no service runs here.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for _ in range(5):  # A free port may be taken between probing and binding it.
            port = _free_port()
            config = self._config(port)
            with self.stderr_path.open("ab") as stderr:
                process = subprocess.Popen(
                    [str(SSHD), "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                )
            if _wait_for_port(port, process):
                self.port, self._process = port, process
                return self
            _stop(process)
        raise RuntimeError(f"sshd did not start; see {self.stderr_path}:\n{self.log()}")

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class SshAgent(_ChildProcess):
    """``ssh-agent`` in the foreground on its own socket; ``env`` points a client at it."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "agent.sock"

    @property
    def env(self) -> Mapping[str, str]:
        return {"SSH_AUTH_SOCK": str(self.socket)}

    def add(self, key: Path) -> None:
        subprocess.run(
            ["ssh-add", "-q", str(key)],
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            timeout=30,
        )

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            ["ssh-agent", "-D", "-a", str(self.socket)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                _stop(self._process)
                raise RuntimeError("ssh-agent did not create its socket")
            time.sleep(0.02)
        return self
