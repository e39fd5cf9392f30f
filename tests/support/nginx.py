"""A real nginx load balancer (round robin, no stickiness) in front of several BFF instances."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bff.devstack import free_port

CONFIG = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream bff {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://bff;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_next_upstream off;
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
"""


class Nginx:
    """``nginx -g 'daemon off;'`` with its own prefix directory; ``url`` is the balancer."""

    def __init__(self, port: int, upstream_ports: list[int], attempts: int = 5) -> None:
        """``port=0``: a free port, picked again if another process binds it first."""
        for attempt in range(attempts):
            try:
                self._start(port or free_port(), upstream_ports)
                return
            except RuntimeError as exc:
                if port or "in use" not in str(exc) or attempt == attempts - 1:
                    raise

    def _start(self, port: int, upstream_ports: list[int]) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx not found: install nginx-light (the test command installs "
                               "it when run as root)")
        self.dir = Path(tempfile.mkdtemp(prefix="bff-nginx-"))
        servers = "\n".join(f"    server 127.0.0.1:{p};" for p in upstream_ports)
        (self.dir / "nginx.conf").write_text(CONFIG.format(dir=self.dir, port=port,
                                                           servers=servers))
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e",
             str(self.dir / "error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                err += (self.dir / "error.log").read_text(errors="replace") if (
                    self.dir / "error.log").exists() else ""
                self.stop()
                raise RuntimeError(f"nginx exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
