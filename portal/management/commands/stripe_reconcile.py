"""Ask Stripe for the events the webhooks missed and apply them now (the nightly job, by hand)."""

from django.core.management.base import BaseCommand, CommandError

from portal import reconcile
from portal.models import ReconcileRun

SHOWN_PURCHASES = 20


class Command(BaseCommand):
    help = (
        "Recover purchases whose Stripe webhooks never arrived: apply the events since the last run "
        "(or the last --since DAYS, at most 30). Needs STRIPE_API_KEY."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", type=int, metavar="DAYS", help="ask for the events of the last DAYS days (1-30)")

    def handle(self, *args, since=None, **options) -> None:
        if since is not None and not 1 <= since <= reconcile.STRIPE_RETENTION_DAYS:
            raise CommandError(f"--since must be between 1 and {reconcile.STRIPE_RETENTION_DAYS} days")
        try:
            run = reconcile.reconcile(since)
        except reconcile.ReconcileOff as exc:
            raise CommandError(str(exc)) from None
        if run.status == ReconcileRun.Status.FAILED:
            raise CommandError(reconcile.summary(run))
        self.stdout.write(reconcile.summary(run))
        for event in run.unapplied:
            self.stdout.write(f"  not applied: {event['type']} {event['id']}: {event['reason']}")
        if run.purchases_created:
            shown = ", ".join(str(pk) for pk in run.purchases_created[:SHOWN_PURCHASES])
            more = len(run.purchases_created) - SHOWN_PURCHASES
            self.stdout.write(f"  purchases created: {shown}" + (f" and {more} more" if more > 0 else ""))
