"""OpenSLO out (GET /api/slo/openslo) and in (manage.py slo_import), round trip."""

import io
import re

import pytest
import yaml
from django.core.management import CommandError, call_command

from slo.models import Slo

DOC = """
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout
  displayName: Checkout API
spec:
  service: shop
  indicator:
    metadata: {name: checkout-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: echopilot, spec: {service: shop}}}
        total: {metricSource: {type: echopilot, spec: {service: shop}}}
  timeWindow:
    - duration: 4w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: availability
      target: 0.995
    - displayName: p95
      op: lte
      value: 450
      target: 0.95
    - displayName: p99
      op: lte
      value: 900
      target: 0.99
"""


def test_export_is_openslo_v1_with_ratio_indicator_and_occurrences(analyst_api, slo):
    docs = analyst_api.get("/api/slo/openslo").json()
    (doc,) = [d for d in docs if d["metadata"]["name"] == "api"]
    assert (doc["apiVersion"], doc["kind"], doc["spec"]["budgetingMethod"]) == ("openslo/v1", "SLO", "Occurrences")
    assert "ratioMetric" in doc["spec"]["indicator"]["spec"]
    assert doc["spec"]["timeWindow"] == [{"duration": "30d", "isRolling": True}]
    assert {"displayName": "availability", "target": 0.99} in doc["spec"]["objectives"]
    as_yaml = analyst_api.get("/api/slo/openslo?format=yaml")
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert list(yaml.safe_load_all(as_yaml.content))[0]["kind"] == "SLO"


def test_import_creates_then_updates(db, tmp_path):
    path = tmp_path / "slo.yaml"
    path.write_text(DOC)
    out = io.StringIO()
    call_command("slo_import", str(path), stdout=out)
    slo = Slo.objects.get(name="checkout")
    assert (slo.service, slo.p95_ms, slo.p99_ms, slo.window_days) == ("shop", 450, 900, 28)
    assert slo.error_budget_pct == pytest.approx(0.5)
    path.write_text(DOC.replace("value: 450", "value: 500"))
    call_command("slo_import", str(path), stdout=out)
    assert Slo.objects.get(name="checkout").p95_ms == 500
    assert "created checkout" in out.getvalue() and "updated checkout" in out.getvalue()


def test_export_then_import_round_trips(analyst_api, slo, tmp_path):
    slo.error_statuses, slo.route = "5xx, 429", "/jobs"
    slo.save()
    path = tmp_path / "export.yaml"
    path.write_bytes(analyst_api.get("/api/slo/openslo?format=yaml").content)
    Slo.objects.all().delete()
    call_command("slo_import", str(path), stdout=io.StringIO())
    again = Slo.objects.get(name="api")
    assert (
        again.service,
        again.route,
        again.p95_ms,
        again.p99_ms,
        again.error_budget_pct,
        again.window_days,
        again.error_statuses,
    ) == ("api", "/jobs", 800, 1200, 1.0, 30, "5xx, 429")


def test_bad_document_imports_nothing(db, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        DOC + "---\n" + DOC.replace("name: checkout", "name: other").replace("isRolling: true", "isRolling: false")
    )
    with pytest.raises(CommandError, match="rolling"):
        call_command("slo_import", str(path), stdout=io.StringIO())
    assert not Slo.objects.exists()


@pytest.mark.parametrize("duration", ['"30d\\n"', '"٣٠d"'])
def test_a_window_with_a_trailing_newline_or_other_digits_is_refused(db, tmp_path, duration):
    path = tmp_path / "slo.yaml"
    path.write_text(DOC.replace("duration: 4w", f"duration: {duration}"))
    with pytest.raises(CommandError, match=r"spec.timeWindow\[0\].duration: must be a duration shorthand"):
        call_command("slo_import", str(path), stdout=io.StringIO())
    assert not Slo.objects.exists()


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("metadata:\n  name: checkout", "metadata: checkout\nx:\n  name: checkout", "metadata must be a mapping"),
        (
            "  timeWindow:\n    - duration: 4w\n      isRolling: true",
            "  timeWindow: 30d",
            "spec.timeWindow must be a list",
        ),
        ("value: 450", "value: fast", r"spec.objectives\[1\].value must be a finite number"),
        ("value: 450", "value: .nan", r"spec.objectives\[1\].value must be a finite number"),
        ("value: 450", "value: [1]", r"spec.objectives\[1\].value must be a finite number"),
        ("      value: 450\n", "", r"spec.objectives\[1\].value must be a finite number"),
        ("  service: shop", "  service: [shop]", "service must be text"),
        ("    - displayName: availability\n      target: 0.995", "    - availability", r"spec.objectives\[0\] must be"),
    ],
)
def test_a_document_of_the_wrong_shape_is_named_and_imports_nothing(db, tmp_path, old, new, message):
    path = tmp_path / "odd.yaml"
    assert old in DOC
    path.write_text(DOC.replace(old, new))
    with pytest.raises(CommandError, match=message):
        call_command("slo_import", str(path), stdout=io.StringIO())
    assert not Slo.objects.exists()


def test_a_file_that_is_not_utf8_is_refused(db, tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("slo_import", str(path), stdout=io.StringIO())


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "  name: checkout\n",
            '  name: checkout\n  annotations: {echopilot.ai/route: "/a\\0b"}\n',
            r"document 2 \(checkout\): metadata.annotations.echopilot.ai/route must not contain a NUL",
        ),
        ("  service: shop", '  service: "w\\0eb"', r"document 2 \(checkout\): spec.service must not contain a NUL"),
        (
            "  service: shop",
            '  service: "bad service!"',
            r"document 2 \(checkout\): spec.service must be 1-100 letters",
        ),
        (
            "  name: checkout\n",
            '  name: checkout\n  annotations: {echopilot.ai/error-statuses: "5xx,\\0"}\n',
            r"document 2 \(checkout\): metadata.annotations.echopilot.ai/error-statuses must not contain a NUL",
        ),
    ],
)
def test_text_postgresql_or_ingest_would_refuse_names_document_and_field_and_imports_nothing(
    db, tmp_path, old, new, message
):
    path = tmp_path / "slo.yaml"
    assert old in DOC
    path.write_text(DOC.replace("name: checkout", "name: first") + "---\n" + DOC.replace(old, new))
    with pytest.raises(CommandError, match=message):
        call_command("slo_import", str(path), stdout=io.StringIO())
    assert not Slo.objects.exists()


def test_a_field_full_clean_refuses_is_named(db, tmp_path):
    path = tmp_path / "slo.yaml"
    path.write_text(DOC.replace("name: checkout", "name: check out"))
    with pytest.raises(CommandError, match=r"document 1 \(check out\): metadata.name: Enter a valid"):
        call_command("slo_import", str(path), stdout=io.StringIO())


@pytest.mark.parametrize("text", ["", "[]", "---\n"])
def test_a_file_without_documents_is_an_error_not_a_silent_success(db, tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(CommandError, match="nothing imported: no OpenSLO SLO in it"):
        call_command("slo_import", str(path), stdout=io.StringIO())


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "value: 450",
            "value: 1.0e+300",
            "spec.objectives (value of the target 0.95 latency objective): Ensure this value is less than or equal to",
        ),
        (
            "  name: checkout\n",
            '  name: checkout\n  annotations: {echopilot.ai/error-statuses: "6xx,999"}\n',
            "error-statuses: not a status class or code: '6xx', '999'",
        ),
        (
            "  name: checkout\n",
            '  name: checkout\n  annotations: {echopilot.ai/min-events: "99999999999"}\n',
            "metadata.annotations.echopilot.ai/min-events: Ensure this value is less than or equal to 1000000000",
        ),
    ],
)
def test_an_import_refuses_what_the_admin_form_refuses(db, tmp_path, old, new, message):
    path = tmp_path / "slo.yaml"
    assert old in DOC
    path.write_text(DOC.replace(old, new))
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("slo_import", str(path), stdout=io.StringIO())
    assert not Slo.objects.exists()
