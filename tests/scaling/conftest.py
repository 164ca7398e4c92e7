"""Fixtures for worker scaling's tests: known limits, a clean cost state, and pushed signals."""

import pytest

from costs import spend_cache as cost_state


@pytest.fixture(autouse=True)
def scale_settings(settings):
    settings.SCALE_MIN = 1
    settings.SCALE_MAX = 6
    settings.SCALE_COOLDOWN_MIN = 10
    settings.SCALE_DRY_RUN = True
    settings.SCALE_ACTUATOR = "record"
    settings.SCALE_WORKER_JOBS_PER_MIN = 0
    settings.SCALE_QUEUE_TIME_TARGET_S = 60
    settings.SCALE_SIGNAL_MAX_AGE_MIN = 15
    settings.COST_TIMEZONE = "UTC"
    settings.COST_CAP_DAILY_USD = 100
    settings.MODEL_CAPS_JSON = {}
    cost_state.reset()
    yield settings
    cost_state.reset()


@pytest.fixture
def push(api):
    """push(queue_depth=..., ...): POST /api/scale/signals with an admin key; returns the response."""

    def send(**body):
        return api.post("/api/scale/signals", body, content_type="application/json")

    return send
