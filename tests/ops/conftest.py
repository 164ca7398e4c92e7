"""Backups land in each test's own folder."""

import pytest


@pytest.fixture(autouse=True)
def backup_dir(tmp_path, settings):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_UPLOAD_COMMAND = ""
    settings.BACKUP_KEEP_DAYS = 30
    return settings.BACKUP_DIR
