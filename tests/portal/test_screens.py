"""The PDF documents, the admin screens, the dashboard card and the demo data."""

import re
import zlib

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone
from django_q.models import OrmQ

from portal import demo, pdf, services
from portal.models import AccessLog, Customer, Purchase

pytestmark = pytest.mark.django_db


def pdf_text(document: bytes) -> str:
    """The text drawn on the pages (fpdf2 deflates its content streams)."""
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, re.S):
        try:
            chunks.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            chunks.append(stream.decode("latin-1"))
    return "\n".join(chunks)


def test_a_receipt_shows_the_purchase_details(purchases):
    text = pdf_text(pdf.render(purchases[0]))
    assert "EchoPilot Receipt" in text
    assert "No. 1846-0001" in text
    assert "EchoPilot Pro, monthly" in text
    assert "Total paid: 49.00 USD" in text
    assert "jenny.rosen@example.com" in text
    assert "REFUNDED" not in text


def test_a_refunded_purchase_is_stamped_refunded(purchases):
    text = pdf_text(pdf.render(purchases[1]))
    assert "(REFUNDED)" in text
    assert "Refunded: 19.00 USD" in text


def test_an_invoice_says_invoice(customer):
    invoice = Purchase.objects.create(
        customer=customer,
        kind=Purchase.INVOICE,
        number="NW-0007",
        description="EchoPilot Team, annual",
        amount=119000,
        stripe_invoice="in_1",
    )
    text = pdf_text(pdf.render(invoice))
    assert "EchoPilot Invoice" in text and "Total paid: 1190.00 USD" in text and "in_1" in text


def test_text_outside_latin_1_does_not_break_the_pdf(customer):
    purchase = Purchase.objects.create(customer=customer, description="Crédits ✓ 自動化", amount=500)
    assert pdf.render(purchase).startswith(b"%PDF-")


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


def test_the_admin_revoke_action_stops_earlier_links(staff, customer, purchases):
    token = services.download_link(purchases[0]).token
    response = staff.post(
        "/admin/portal/customer/",
        {"action": "revoke_links", ACTION_CHECKBOX_NAME: [customer.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Revoked every link issued so far to 1 customer(s)" in response.content.decode()
    customer.refresh_from_db()
    assert customer.link_generation == 1 and customer.links_revoked_at is not None
    assert staff.get("/api/portal/download", {"token": token}).status_code == 403


def test_the_admin_email_action_skips_unsubscribed_customers(staff, customer):
    Customer.objects.filter(pk=customer.pk).update(unsubscribed_at=timezone.now())
    response = staff.post(
        "/admin/portal/customer/", {"action": "email_receipts_link", ACTION_CHECKBOX_NAME: [customer.pk]}, follow=True
    )
    assert "Not emailed (unsubscribed): jenny.rosen@example.com" in response.content.decode()


def test_the_admin_lists_customers_purchases_and_the_access_log(staff, purchases):
    client_ip = "203.0.113.5"
    staff.get("/api/portal/download", {"token": "bad"}, REMOTE_ADDR=client_ip)
    customers = staff.get("/admin/portal/customer/?q=jenny")
    assert customers.status_code == 200 and "jenny.rosen@example.com" in customers.content.decode()
    listing = staff.get("/admin/portal/purchase/?status__exact=refunded")
    assert "Automation credits" in listing.content.decode()
    assert "EchoPilot Pro" not in listing.content.decode()
    log = staff.get("/admin/portal/accesslog/")
    assert client_ip in log.content.decode()
    assert staff.get(f"/admin/portal/accesslog/{AccessLog.objects.get().pk}/change/").status_code == 200


def test_a_purchase_can_be_corrected_in_the_admin(staff, purchases):
    purchase = purchases[0]
    page = staff.get(f"/admin/portal/purchase/{purchase.pk}/change/")
    assert "/api/portal/download?token=" in page.content.decode()
    response = staff.post(
        f"/admin/portal/purchase/{purchase.pk}/change/",
        {
            "customer": purchase.customer_id,
            "kind": "receipt",
            "number": "1846-0001",
            "description": "EchoPilot Pro, monthly (corrected)",
            "purchased_at_0": "2026-11-01",
            "purchased_at_1": "10:00:00",
            "amount": 4900,
            "amount_refunded": 4900,
            "currency": "USD",
            "status": "refunded",
            "stripe_payment_intent": "",
            "stripe_charge": "ch_paid_1",
            "stripe_checkout_session": "",
            "stripe_invoice": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    purchase.refresh_from_db()
    assert purchase.status == Purchase.REFUNDED
    assert purchase.currency == "usd"
    assert purchase.stripe_payment_intent is None


def test_a_purchase_can_be_entered_in_the_admin(staff, customer):
    response = staff.post(
        "/admin/portal/purchase/add/",
        {
            "customer": customer.pk,
            "kind": "invoice",
            "number": "MAN-1",
            "description": "Consulting, 2 h",
            "purchased_at_0": "2026-11-02",
            "purchased_at_1": "09:00:00",
            "amount": 30000,
            "amount_refunded": 0,
            "currency": "eur",
            "status": "paid",
            "stripe_payment_intent": "",
            "stripe_charge": "",
            "stripe_checkout_session": "",
            "stripe_invoice": "",
        },
    )
    assert response.status_code == 302
    assert Purchase.objects.get(number="MAN-1").amount_display == 300


def test_the_dashboard_card_shows_lookup_and_refused_accesses(staff, purchases):
    staff.get("/api/portal/download", {"token": "tampered"}, REMOTE_ADDR="198.51.100.77")
    page = staff.get("/admin/")
    html = page.content.decode()
    card = html[html.index('id="card-portal"') :]
    assert "Customer Portal" in card
    assert "lookupReceipts()" in card
    assert "raiseTestIncident()" not in card  # the incidents card raises the test incident, asking first
    assert "Copy link" in card
    assert "198.51.100.77" in card and "403" in card


def test_the_card_lookup_works_with_the_staff_session(staff, purchases):
    body = staff.get("/api/portal/receipts", {"email": "jenny.rosen@example.com"}).json()
    assert len(body["receipts"]) == 2


def test_demo_data_loads_twice_without_duplicates():
    now = timezone.now()
    first = demo.load(now)
    demo.load(now)
    assert Customer.objects.count() == 3
    assert Purchase.objects.count() == 5
    assert Purchase.objects.filter(status=Purchase.REFUNDED).count() == 1
    assert "3 customers" in first


def test_the_customer_page_offers_a_working_link_to_every_receipt(staff, customer, purchases):
    html = staff.get(f"/admin/portal/customer/{customer.pk}/change/", HTTP_HOST="evil.example").content.decode()
    links = re.findall(r'href="https://portal\.example\.test(/api/portal/download\?token=[^"]+)"', html)
    assert len(links) == 2
    assert staff.get(links[1].replace("&amp;", "&")).status_code == 200


def test_the_purchase_page_offers_a_link_on_the_portal_base_url(staff, purchases):
    html = staff.get(f"/admin/portal/purchase/{purchases[0].pk}/change/", HTTP_HOST="evil.example").content.decode()
    assert 'href="https://portal.example.test/api/portal/download?token=' in html


def test_metrics_count_purchases_and_recent_accesses(client, purchases):
    client.get("/api/portal/download", {"token": "nope"})
    text = client.get("/metrics").content.decode()
    assert 'echopilot_portal_purchases{status="paid"} 1.0' in text
    assert 'echopilot_portal_purchases{status="refunded"} 1.0' in text
    assert 'echopilot_portal_accesses_total{outcome="refused"} 1.0' in text


def test_adding_a_customer_whose_email_differs_only_in_case_says_it_exists(staff, customer):
    response = staff.post(
        "/admin/portal/customer/add/",
        {
            "email": "JENNY.ROSEN@example.com",
            "name": "",
            "stripe_customer_id": "",
            "purchases-TOTAL_FORMS": 0,
            "purchases-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "A customer with this email already exists." in html
    assert "portal_customer_email_ci_unique" not in html
    assert Customer.objects.count() == 1


def test_a_customer_can_still_be_saved_under_its_own_email(staff, customer):
    response = staff.post(
        f"/admin/portal/customer/{customer.pk}/change/",
        {
            "email": "Jenny.Rosen@example.com",
            "name": "Jenny R.",
            "stripe_customer_id": "",
            "purchases-TOTAL_FORMS": 0,
            "purchases-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Jenny R."


@pytest.fixture
def viewer(staff_with):
    """A staff user who may only view customers."""
    return staff_with("portal.view_customer")


def test_a_view_only_user_is_not_offered_the_customer_actions(viewer, customer):
    page = viewer.get("/admin/portal/customer/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "jenny.rosen@example.com" in html
    assert "revoke_links" not in html and "email_receipts_link" not in html


@pytest.mark.parametrize("action", ["revoke_links", "email_receipts_link"])
def test_a_view_only_user_cannot_run_the_customer_actions(viewer, customer, action):
    viewer.post("/admin/portal/customer/", {"action": action, ACTION_CHECKBOX_NAME: [customer.pk]}, follow=True)
    customer.refresh_from_db()
    assert customer.link_generation == 0
    assert not OrmQ.objects.exists()
