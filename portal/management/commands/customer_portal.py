"""One-off portal runs from the shell: list a customer's receipts with fresh links, revoke their
links, email them their receipts page, prune rate counters. Same service functions as the API."""

import smtplib

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import mail, services


class Command(BaseCommand):
    help = "Customer portal: receipts EMAIL | revoke EMAIL | send-link EMAIL | prune"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        receipts = sub.add_parser("receipts", help="list the customer's purchases with signed download links")
        receipts.add_argument("email")
        revoke = sub.add_parser("revoke", help="make every link issued so far to the customer fail")
        revoke.add_argument("email")
        send = sub.add_parser("send-link", help="email the customer a link to their receipts page now")
        send.add_argument("email")
        sub.add_parser("prune", help="delete rate-limit counters of windows long gone")

    def handle(self, *args, action, **options) -> None:
        if action == "prune":
            self.stdout.write(f"deleted {services.prune_rate_buckets()} old rate counters")
            return
        email = options["email"]
        if action == "send-link":
            self._send_link(email)
            return
        customer = services.find_customer(email)
        if customer is None:
            raise CommandError(f"no customer with email {email}")
        if action == "revoke":
            generation = services.revoke_links(customer)
            self.stdout.write(f"{customer.email}: every earlier link revoked (generation {generation})")
            return
        self._receipts(customer)

    def _send_link(self, email) -> None:
        try:
            # Asked for by an operator on the customer's behalf: counts as requested.
            outcome = mail.send_receipts_link(email, requested=True)
        except mail.EmailNotSetUp as exc:
            raise CommandError(f"{email}: not sent, {exc}; set SMTP_HOST (and SMTP_PORT, SMTP_FROM)") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise CommandError(
                f"{email}: the mail server refused or did not answer ({exc}); check SMTP_HOST and SMTP_PORT"
            ) from exc
        if outcome == "unknown":
            raise CommandError(f"no customer with email {email}")
        if outcome == "throttled":
            raise CommandError(
                f"{email}: not sent, already emailed PORTAL_EMAIL_RATE_PER_HOUR times this hour; try again later"
            )
        self.stdout.write(f"{email}: {outcome}")

    def _receipts(self, customer) -> None:
        rows = services.receipts_with_links(customer)
        if not rows:
            self.stdout.write(f"{customer.email}: no purchases")
            return
        # Run by hand, this process may not see the address the console serves on: say which it used.
        self.stdout.write(f"links built on PORTAL_BASE_URL={settings.PORTAL_BASE_URL}")
        for purchase, link in rows:
            self.stdout.write(
                f"{purchase.purchased_at:%Y-%m-%d} {purchase.document_title} {purchase.reference} "
                f"{purchase.amount_display} {purchase.currency.upper()} {purchase.status}\n"
                f"  {services.download_url(link)}\n  valid until {link.expires:%Y-%m-%d %H:%M} UTC"
            )
