import hashlib
import secrets

from django.db import models
from django.utils import timezone

KEY_PREFIX_LEN = 8


def hash_key(raw_key: str) -> str:
    """The stored form of a dash key: SHA-256 is enough for 190 bits of random secret."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class DashKey(models.Model):
    """An API key for X-Dash-Key. Only its hash and a short visible prefix are stored."""

    ADMIN = "admin"
    ANALYST = "analyst"
    ROLES = [(ADMIN, "admin (everything)"), (ANALYST, "analyst (read only)")]

    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=ROLES, default=ANALYST)
    prefix = models.CharField(max_length=KEY_PREFIX_LEN, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "dash key"
        ordering = ["-created"]
        # What a staff session may do in the API and on the dashboard cards (superusers: everything).
        permissions = [
            ("api_admin", "Can use the API and the dashboard's controls as an admin"),
            ("api_analyst", "Can read the API and the dashboard's cards as an analyst"),
        ]

    def __str__(self):
        return f"{self.name} ({self.role}, {self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked is None

    @classmethod
    def issue(cls, name: str, role: str) -> tuple["DashKey", str]:
        """Create a key and return it with the raw secret, which is shown once and never stored."""
        prefix = secrets.token_hex(KEY_PREFIX_LEN // 2)
        raw = f"ep_{prefix}_{secrets.token_urlsafe(24)}"
        key = cls.objects.create(name=name, role=role, prefix=prefix, key_hash=hash_key(raw))
        return key, raw

    @staticmethod
    def prefix_of(raw_key: str) -> str | None:
        parts = raw_key.split("_", 2)
        if len(parts) == 3 and parts[0] == "ep" and len(parts[1]) == KEY_PREFIX_LEN:
            return parts[1]
        return None
