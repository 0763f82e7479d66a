"""JupyterLab without its news prompt and update checks, for `lk-notebook lab` and the browser tests.

`--LabApp.news_url=None` only stops the server's news endpoint: JupyterLab 4's `announcements` plugin still asks
"Would you like to get notified about official Jupyter news?" whenever the `fetchNews` setting of
`@jupyterlab/apputils-extension:notification` is "none" (its default; read in jupyterlab 4.6's jlab_core bundle).
So the default is changed to "false" through a `labconfig/default_setting_overrides.json` in a config directory
put first on JUPYTER_CONFIG_PATH (jupyterlab_server layers those over the schema defaults): nothing of the user's
own settings or installation is written, and a user who chose "Always" keeps it.

Example::

    with tempfile.TemporaryDirectory() as tmp:
        env = quiet_lab_env(Path(tmp), os.environ)
        subprocess.run([sys.executable, "-m", "jupyter", "lab", *QUIET_LAB_ARGS], env=env)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["NOTIFICATION_PLUGIN", "QUIET_LAB_ARGS", "QUIET_SETTINGS", "quiet_lab_env"]

QUIET_LAB_ARGS = ("--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
"""The server side: no news endpoint, no update check."""
NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"
QUIET_SETTINGS = {NOTIFICATION_PLUGIN: {"fetchNews": "false", "checkForUpdates": False}}
"""The front end's side: never ask about news, never check for updates (defaults; user settings still win)."""


def quiet_lab_env(config_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """`env` with `config_dir` (created, holding the settings defaults) first on JUPYTER_CONFIG_PATH."""
    labconfig = config_dir / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "default_setting_overrides.json").write_text(json.dumps(QUIET_SETTINGS, indent=2) + "\n")
    paths = [str(config_dir), *(p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p)]
    return {**env, "JUPYTER_CONFIG_PATH": os.pathsep.join(paths)}
