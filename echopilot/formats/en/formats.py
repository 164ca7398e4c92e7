"""English formats for the admin: ISO dates, 24-hour times, and the zone on every date and time
(an operator paged at 3 a.m. reads the console beside logs in UTC)."""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
