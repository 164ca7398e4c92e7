from django.urls import path

from . import api, api_dr

urlpatterns: list = [
    # --- The ops check, auto-recovery and uptime probes ---
    path("check", api.check, name="ops-check"),
    path("recover", api.recover, name="ops-recover"),
    path("uptime", api.uptime_status, name="ops-uptime"),
    path("uptime/test", api.uptime_test, name="ops-uptime-test"),
    # --- Backups and DR drills ---
    path("dr/last", api_dr.dr_last, name="ops-dr-last"),
]
