"""``python -m cli``: the command line (``realtime.cli``) with the project's parts, as the app has them.

    python -m cli --text "What is 12 times 7?" [--provider local] [--out DIR]
    python -m cli --audio question.wav [--out DIR]
    python -m cli --mic [--push-to-talk] [--echo gate] [--protocol live|realtime]

The enabled tools from ``tools/`` are offered and run, and with the local provider and no ``LOCAL_ENGINE_URL`` the
local engine starts in this process and is reached in memory (``chat_app.wiring``). Options and exit codes: see
``realtime.cli``.
"""

from __future__ import annotations

import sys

from chat_app.wiring import connector_for, tool_runner
from realtime.cli import main
from realtime.config import Settings
from realtime.conversation import ToolRunner
from realtime.providers import Provider
from realtime.transport import Connector


class ProjectParts:
    """The project's tools and the in-process engine's connector."""

    def runner(self, settings: Settings) -> ToolRunner | None:
        """The enabled tools of ``tools/``."""
        return tool_runner(settings)

    def connector(self, provider: Provider) -> Connector | None:
        """The embedded engine's in-memory connector for an in-process provider."""
        return connector_for(provider)


if __name__ == "__main__":
    sys.exit(main(parts=ProjectParts(), prog="python -m cli"))
