from django.urls import path

urlpatterns: list = []

# --- Backups and DR drills (issue 25) ---------------------------------------------------------------

from . import api_dr  # noqa: E402

urlpatterns += [path("dr/last", api_dr.dr_last, name="ops-dr-last")]
