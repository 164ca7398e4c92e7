"""Jobs the qcluster pool's test enqueues (the cluster imports them by dotted path)."""

import os
import time
from pathlib import Path


def long_job(seconds: float, marker: str) -> str:
    """Say which cluster runs it, sleep `seconds`, then say it finished."""
    path = Path(marker)
    sentinel = os.getppid()
    path.with_suffix(".started").write_text(str(sentinel))
    time.sleep(seconds)
    path.with_suffix(".done").write_text("done")
    return "finished"
