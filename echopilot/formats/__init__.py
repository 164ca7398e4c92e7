"""The console's date formats: every time it shows says its zone."""
