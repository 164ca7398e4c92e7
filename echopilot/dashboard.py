"""The operator's home: the admin index with one card per app."""

from django.contrib import admin
from django.template.loader import TemplateDoesNotExist, get_template
from django.template.response import TemplateResponse

from .auth import role_of
from .models import DashKey
from .plugins import console_apps


def cards(request) -> list[dict]:
    """One rendered card per console app; an app that has none yet says so plainly. None for a
    user without an API role: the cards show what the API would (spend, customers, incidents)."""
    role = role_of(request.user)
    if role is None:
        return []
    rendered = []
    for app in console_apps():
        card = {"app": app.label, "title": app.verbose_name, "html": None}
        try:
            template = get_template(f"{app.label}/card.html")
        except TemplateDoesNotExist:
            rendered.append(card)
            continue
        context = {**app.card_context(request), "title": app.verbose_name, "can_write": role == DashKey.ADMIN}
        rendered.append({**card, "html": template.render(context, request)})
    return rendered


class ConsoleAdminSite(admin.AdminSite):
    site_header = "EchoPilot Ops Console"
    site_title = "EchoPilot Ops"
    index_title = "Production at a glance"

    def index(self, request, extra_context=None) -> TemplateResponse:
        extra_context = {**(extra_context or {}), "cards": cards(request)}
        return super().index(request, extra_context)
