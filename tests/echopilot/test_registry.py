"""Schedules and demo data, declared by each app and applied by one command."""

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from echopilot.plugins import Job
from echopilot.registry import declared_jobs, sync_schedules

pytestmark = pytest.mark.django_db


def schedule_rows():
    return sorted(Schedule.objects.values_list("name", "func", "schedule_type", "minutes", "repeats"))


def test_every_app_job_becomes_one_schedule_row():
    jobs = declared_jobs()
    assert jobs, "the apps declare their periodic jobs in schedules.py"
    call_command("setup_schedules")
    assert sorted(Schedule.objects.values_list("name", flat=True)) == sorted(job.name for job in jobs)
    assert len({job.name for job in jobs}) == len(jobs), "job names are unique"


def test_setup_schedules_twice_leaves_the_same_rows():
    call_command("setup_schedules")
    first = schedule_rows()
    ids = sorted(Schedule.objects.values_list("id", flat=True))
    call_command("setup_schedules")
    assert schedule_rows() == first
    assert sorted(Schedule.objects.values_list("id", flat=True)) == ids


def test_a_duplicate_made_by_hand_is_removed_and_a_changed_job_updated(monkeypatch):
    job = Job(name="probe", func="math.floor", minutes=5)
    monkeypatch.setattr("echopilot.registry.declared_jobs", lambda: [job])
    sync_schedules()
    Schedule.objects.create(name="probe", func="math.floor", schedule_type=Schedule.MINUTES, minutes=5)
    monkeypatch.setattr("echopilot.registry.declared_jobs", lambda: [Job(name="probe", func="math.ceil", minutes=7)])
    assert sync_schedules() == [("probe", False)]
    row = Schedule.objects.get(name="probe")
    assert (row.func, row.minutes) == ("math.ceil", 7)


def test_every_scheduled_function_exists():
    from django.utils.module_loading import import_string

    for job in declared_jobs():
        assert callable(import_string(job.func)), job.func


def test_demo_runs_twice_without_error(capsys):
    call_command("demo")
    call_command("demo")
    out = capsys.readouterr().out
    assert out.strip(), "at least one app contributes demo data"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_setup_schedules_on_several_hosts_at_once_makes_one_row_per_job():
    from tests.races import race

    jobs = declared_jobs()
    for _trial in range(3):
        Schedule.objects.all().delete()
        outcomes = race(lambda _host: sync_schedules(), range(4))
        names = list(Schedule.objects.values_list("name", flat=True))
        assert sorted(names) == sorted(job.name for job in jobs), "one row per job, none twice"
        created = [name for outcome in outcomes for name, was_created in outcome if was_created]
        assert sorted(created) == sorted(job.name for job in jobs), "each row created by one host only"
