"""nginx as a plain `proxy_pass` to the upstream: one worker, its own prefix, pid and logs."""

from __future__ import annotations

import shutil
from pathlib import Path

_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size 64m;
    upstream bench_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Stream both ways, as the gateway does, instead of spooling to temp files.
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_buffer_size 64k;
            proxy_buffers 4 64k;
            proxy_busy_buffers_size 128k;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise RuntimeError("nginx is not installed (bench/run.sh installs Debian's package)")
    return found


def write_config(prefix: Path, *, port: int, upstream_port: int) -> Path:
    """A config under `prefix`, which nginx's worker (user nobody) must be able to enter."""
    prefix.mkdir(parents=True, exist_ok=True)
    prefix.chmod(0o755)
    config = prefix / "nginx.conf"
    config.write_text(_CONFIG.format(prefix=prefix, port=port, upstream_port=upstream_port))
    return config


def argv(prefix: Path, config: Path) -> list[str]:
    return [nginx_binary(), "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(config)]
