"""deploy/: the compose file and the nginx template agree with each other and with the scale-out test, and the
template, filled as the compose file fills it, is a valid nginx configuration (``nginx -t``).

The compose stack itself is not brought up here: its nginx and PostgreSQL images come from a registry these
machines cannot reach. tests/deploy/test_scale_out.py runs the same template and database URL with Debian's
nginx and PostgreSQL instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chat_app.data_layer import history_from_env
from tests.app.conftest import ROOT
from tests.deploy.services import render_template

COMPOSE = ROOT / "deploy" / "compose.yaml"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_runs_two_replicas_behind_nginx_with_postgres() -> None:
    services = compose()["services"]
    assert {"app1", "app2", "nginx", "postgres"} <= set(services)
    assert services["app1"] == services["app2"]
    assert services["app1"]["build"]["dockerfile"] == "Dockerfile"
    nginx = services["nginx"]
    assert "./nginx.conf.template:/etc/nginx/templates/default.conf.template:ro" in nginx["volumes"]
    assert (nginx["environment"]["RVC_APP1"], nginx["environment"]["RVC_APP2"]) == ("app1:8000", "app2:8000")
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("rvc", "rvc")


def test_compose_runs_the_app_read_only_with_the_tmpfs_the_container_test_gives_it() -> None:
    from tests.deploy.test_container import READ_ONLY

    app = compose()["services"]["app1"]
    tested = [READ_ONLY[i + 1] for i, arg in enumerate(READ_ONLY) if arg == "--tmpfs"]
    assert app["read_only"] is True and sorted(app["tmpfs"]) == sorted(tested)


def test_compose_database_url_is_one_the_app_uses(tmp_path: Path) -> None:
    url = compose()["services"]["app1"]["environment"]["DATABASE_URL"]
    url = re.sub(r"\$\{POSTGRES_PASSWORD[^}]*\}", "pw", url)
    config = history_from_env({"DATABASE_URL": url}, sign_in=True, app_dir=tmp_path)
    assert config.url == "postgresql+asyncpg://rvc:pw@postgres:5432/rvc"  # the scale-out test: rvc@127.0.0.1/rvc


def test_template_filled_as_compose_does_is_valid_nginx(tmp_path: Path) -> None:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx missing (scripts/system-packages dev installs it)")
    env = compose()["services"]["nginx"]["environment"]
    site = render_template(f"127.0.0.1:{env['RVC_LISTEN']}", "127.0.0.1:1", "127.0.0.1:2", tmp_path / "access.log")
    assert "${" not in site and "$rvc_affinity" in site and "$http_upgrade" in site
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
