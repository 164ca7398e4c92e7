"""Receipts and invoices as PDF, drawn with fpdf2."""

from django.utils import timezone
from fpdf import FPDF

from .models import Purchase

SELLER = "EchoPilot"


def _text(value) -> str:
    # The built-in PDF fonts speak Latin-1; anything else becomes '?' rather than an error.
    return str(value).encode("latin-1", "replace").decode("latin-1")


def render(purchase: Purchase, now=None) -> bytes:
    """The purchase's receipt (or invoice) as PDF bytes, stamped REFUNDED when it was refunded."""
    now = now or timezone.now()
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"{purchase.document_title} {purchase.reference}"))
    pdf.set_author(SELLER)
    pdf.set_creation_date(now)
    pdf.add_page()
    _header(pdf, purchase)
    _details(pdf, purchase)
    _amounts(pdf, purchase)
    if purchase.is_refunded:
        _refunded_stamp(pdf, purchase)
    _footer(pdf, purchase, now)
    return bytes(pdf.output())


def _header(pdf: FPDF, purchase: Purchase) -> None:
    pdf.set_font("Helvetica", "B", 22)
    pdf.cell(0, 12, _text(f"{SELLER} {purchase.document_title}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 7, _text(f"No. {purchase.reference}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, _text(f"Date: {purchase.purchased_at:%Y-%m-%d %H:%M} UTC"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)


def _details(pdf: FPDF, purchase: Purchase) -> None:
    customer = purchase.customer
    rows = [("Billed to", customer.name or customer.email)]
    if customer.name:
        rows.append(("Email", customer.email))
    rows += [
        ("Description", purchase.description or "Purchase"),
        ("Status", purchase.get_status_display()),
    ]
    for label, ref in (
        ("Payment", purchase.stripe_payment_intent),
        ("Charge", purchase.stripe_charge),
        ("Invoice", purchase.stripe_invoice),
        ("Checkout", purchase.stripe_checkout_session),
    ):
        if ref:
            rows.append((f"Stripe {label.lower()}", ref))
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(45, 7, _text(label))
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 7, _text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _amounts(pdf: FPDF, purchase: Purchase) -> None:
    currency = purchase.currency.upper()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, _text(f"Total paid: {purchase.amount_display} {currency}"), new_x="LMARGIN", new_y="NEXT")
    if purchase.amount_refunded:
        pdf.set_font("Helvetica", "", 12)
        pdf.cell(0, 8, _text(f"Refunded: {purchase.refunded_display} {currency}"), new_x="LMARGIN", new_y="NEXT")


def _refunded_stamp(pdf: FPDF, purchase: Purchase) -> None:
    label = "REFUNDED" if purchase.status == Purchase.REFUNDED else "PARTIALLY REFUNDED"
    pdf.set_text_color(197, 34, 31)
    pdf.set_draw_color(197, 34, 31)
    pdf.set_font("Helvetica", "B", 40 if purchase.status == Purchase.REFUNDED else 28)
    with pdf.rotation(20, x=105, y=170):
        pdf.set_xy(30, 160)
        pdf.cell(150, 22, label, border=1, align="C")
    pdf.set_text_color(0, 0, 0)


def _footer(pdf: FPDF, purchase: Purchase, now) -> None:
    pdf.set_y(-30)
    pdf.set_font("Helvetica", "I", 9)
    pdf.cell(0, 6, _text(f"Issued by {SELLER} on {now:%Y-%m-%d %H:%M} UTC."), new_x="LMARGIN", new_y="NEXT")
