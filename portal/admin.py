from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html, format_html_join
from django_q.tasks import async_task

from echopilot.admin import BigHistoryAdmin, CappedCountPaginator, ReadOnlyAdmin, recent_values_filter

from . import mail, reconcile, services
from .models import AccessLog, Customer, Purchase, ReconcileRun, RetentionDay, StripeEvent


class PurchaseInline(admin.TabularInline):
    model = Purchase
    extra = 0
    fields = ("purchased_at", "kind", "number", "description", "amount", "currency", "status")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = "__all__"

    def clean_email(self) -> str:
        # Said here in the operator's words; the case-insensitive unique constraint would only name itself.
        email = self.cleaned_data["email"]
        existing = services.find_customer(email)
        if existing is not None and existing.pk != self.instance.pk:
            raise forms.ValidationError("A customer with this email already exists.")
        return email


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    list_display = ("email", "name", "purchase_count", "subscribed", "link_generation", "links_revoked_at", "created")
    list_filter = (("unsubscribed_at", admin.EmptyFieldListFilter), "created")
    search_fields = ("email", "name", "stripe_customer_id")
    readonly_fields = ("created", "link_generation", "links_revoked_at", "receipt_links")
    inlines = [PurchaseInline]
    actions = ["revoke_links", "email_receipts_link"]

    def get_queryset(self, request) -> QuerySet[Customer]:
        return super().get_queryset(request).annotate(_purchases=Count("purchases"))

    @admin.display(description="purchases", ordering="_purchases")
    def purchase_count(self, obj) -> int:
        return obj._purchases

    @admin.display(description="gets email", boolean=True, ordering="unsubscribed_at")
    def subscribed(self, obj) -> bool:
        return not obj.is_unsubscribed

    @admin.display(description="receipt links (fresh, valid 24 h; right-click to copy)")
    def receipt_links(self, obj) -> str:
        if obj.pk is None:
            return "-"
        rows = services.receipts_with_links(obj)
        if not rows:
            return "no purchases"
        return format_html_join(
            "",
            '<div><a href="{}">{} {}</a> {} {} <span class="quiet">{}</span></div>',
            (
                (
                    services.download_url(link),
                    p.document_title,
                    p.reference,
                    p.amount_display,
                    p.currency.upper(),
                    p.get_status_display(),
                )
                for p, link in rows
            ),
        )

    @admin.action(
        description="Revoke this customer's links (every link issued so far stops working)", permissions=["change"]
    )
    def revoke_links(self, request, queryset) -> None:
        customers = list(queryset)
        for customer in customers:
            services.revoke_links(customer)
        self.message_user(
            request,
            f"Revoked every link issued so far to {len(customers)} customer(s): "
            + ", ".join(c.email for c in customers[:10]),
            messages.SUCCESS,
        )

    @admin.action(description="Email the receipts link (skips unsubscribed customers)", permissions=["change"])
    def email_receipts_link(self, request, queryset) -> None:
        if not mail.email_is_set_up():
            self.message_user(request, f"Nothing queued: {mail.NOT_SET_UP}.", messages.ERROR)
            return
        sent, skipped = [], []
        for customer in queryset:
            if customer.is_unsubscribed:
                skipped.append(customer.email)
                continue
            async_task("portal.tasks.send_receipts_link", customer.email, False, task_name="portal: receipts link")
            sent.append(customer.email)
        self.message_user(request, f"Queued {len(sent)} email(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Not emailed (unsubscribed): {', '.join(skipped)}", messages.WARNING)


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = ("reference", "customer", "kind", "description", "amount_shown", "status", "purchased_at")
    list_filter = ("status", "kind", "currency", "purchased_at")
    search_fields = (
        "customer__email",
        "number",
        "description",
        "stripe_payment_intent",
        "stripe_charge",
        "stripe_checkout_session",
        "stripe_invoice",
    )
    autocomplete_fields = ("customer",)
    date_hierarchy = "purchased_at"
    readonly_fields = ("updated", "download_link")
    fieldsets = (
        (None, {"fields": ("customer", "kind", "number", "description", "purchased_at")}),
        (
            "Money (in the currency's minor unit, e.g. cents)",
            {"fields": ("amount", "amount_refunded", "currency", "status")},
        ),
        ("Stripe", {"fields": ("stripe_payment_intent", "stripe_charge", "stripe_checkout_session", "stripe_invoice")}),
        ("Link for the customer", {"fields": ("download_link", "updated")}),
    )

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, obj) -> str:
        return f"{obj.amount_display} {obj.currency.upper()}"

    @admin.display(description="signed download link (fresh, valid 24 h)")
    def download_link(self, obj) -> str:
        if obj.pk is None:
            return "-"
        url = services.download_url(services.download_link(obj))
        return format_html('<a href="{}">{}</a>', url, "download / copy link")


@admin.register(AccessLog)
class AccessLogAdmin(BigHistoryAdmin):
    list_display = ("ts", "action", "outcome", "status", "email", "ip", "resource", "user_agent")
    list_filter = ("outcome", recent_values_filter("action"), recent_values_filter("status"), "ts")
    search_fields = ("email", "ip", "resource", "user_agent")


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ("received", "type", "event_id", "livemode", "purchase", "outcome")
    list_filter = (recent_values_filter("type"), "livemode", "received")
    search_fields = ("event_id", "outcome")
    list_select_related = ("purchase",)
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReconcileRun)
class ReconcileRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started",
        "status",
        "since",
        "events_seen",
        "recovered_shown",
        "created_count",
        "already_applied",
        "unapplied_count",
    )
    list_filter = ("status", "started")
    date_hierarchy = "started"
    readonly_fields = [field.name for field in ReconcileRun._meta.fields]
    change_list_template = "admin/portal/reconcilerun/change_list.html"

    def get_urls(self) -> list:
        run_now = path("run/", self.admin_site.admin_view(self.run_now), name="portal_reconcilerun_run")
        return [run_now, *super().get_urls()]

    def changelist_view(self, request, extra_context=None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "reconcile_on": reconcile.is_enabled()}
        return super().changelist_view(request, extra_context)

    def run_now(self, request) -> HttpResponseRedirect:
        """Queue a run now, as the nightly schedule would (POST; needs the change permission)."""
        if request.method != "POST" or not request.user.has_perm("portal.change_reconcilerun"):
            raise PermissionDenied
        if not reconcile.is_enabled():
            self.message_user(request, "STRIPE_API_KEY is not set: Stripe reconciliation is off.", messages.ERROR)
        else:
            async_task("portal.tasks.stripe_reconcile", task_name="portal: Stripe reconciliation")
            self.message_user(
                request, "Stripe reconciliation queued; its run appears here when done.", messages.SUCCESS
            )
        return redirect("admin:portal_reconcilerun_changelist")

    @admin.display(description="recovered")
    def recovered_shown(self, obj) -> str:
        return ", ".join(f"{kind} {count}" for kind, count in obj.recovered_by_type.items()) or "-"

    @admin.display(description="purchases created")
    def created_count(self, obj) -> int:
        return len(obj.purchases_created)

    @admin.display(description="not applied")
    def unapplied_count(self, obj) -> int:
        return len(obj.unapplied)


# --- Retention analytics ----------------------------------------------------------------------


@admin.register(RetentionDay)
class RetentionDayAdmin(ReadOnlyAdmin):
    """DAU / WAU / MAU per day; the last run of the daily count is under Job runs ("retention")."""

    list_display = ("day", "dau", "wau", "mau", "stale", "computed_at")
    list_filter = ("stale",)
    date_hierarchy = "day"
