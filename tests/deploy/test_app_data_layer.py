"""Which data layer the app registers, decided at import from the environment (in a fresh interpreter each):
Chainlit's own PostgreSQL layer never starts, and a DATABASE_URL the app cannot use stops it with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.app.conftest import ROOT

SIGN_IN = {"CHAINLIT_AUTH_SECRET": "s" * 40, "CHAINLIT_USERS": "alice:$2b$04$" + "a" * 53}
PROBE = (
    "import app\nfrom chainlit.data import get_data_layer\nlayer = get_data_layer()\n"
    "print('LAYER', type(layer).__name__, getattr(getattr(layer, 'config', None), 'url', None))\n"
)


def run_app_import(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    dropped = ("OPENAI_", "AZURE_", "CHAINLIT_", "DATABASE_", "DATA_DIR", "STORE_AUDIO", "CI")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(extra)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=90, check=False)  # fmt: skip


def test_app_layer_takes_precedence_and_refuses_unusable_urls(tmp_path: object) -> None:
    pg = run_app_import({**SIGN_IN, "DATABASE_URL": "postgresql://rvc:hunter2pw@db.invalid:5432/rvc"})
    assert "LAYER HistoryDataLayer postgresql+asyncpg://rvc:hunter2pw@db.invalid:5432/rvc" in pg.stdout, pg.stderr
    assert "hunter2pw" not in pg.stderr  # logged with the password hidden

    no_sign_in = run_app_import({"DATABASE_URL": "postgresql://rvc:pw@db.invalid:5432/rvc"})
    assert "LAYER NoneType None" in no_sign_in.stdout, no_sign_in.stderr  # not Chainlit's ChainlitDataLayer
    assert "history is off" in no_sign_in.stderr + no_sign_in.stdout

    bad = run_app_import({**SIGN_IN, "DATABASE_URL": "mysql://rvc:hunter2pw@db/rvc"})
    assert bad.returncode != 0
    assert "HistoryConfigError: DATABASE_URL uses mysql://, which the app cannot use" in bad.stderr
    assert "hunter2pw" not in bad.stderr
