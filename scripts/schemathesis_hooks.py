"""The rules of the OpenAPI document that JSON Schema cannot state, taught to schemathesis.

A clinic's settings must keep `eta_min_minutes` <= `eta_max_minutes`, checked on the settings
that result (an update is a patch over the stored ones). The document gives each key its own
range and says this in words; schemathesis reads only the ranges, so a request it calls
valid could break the pair. Such requests are not generated as valid ones: a valid body sets
both keys in order, or neither. Invalid requests are left as they are (the server refuses
them anyway), and every check stays on. scripts/schemathesis.sh loads this file.

Reports (SPEC §10) likewise: a range's `from` must not be after its `to` (default: today,
the latest clinic-local date) nor more than 1,096 days before it, and a month must not be
after the current one (UTC+14, the earliest time zone, as `qlink.platform_usage` counts).
Valid requests keep to these; the server refuses the others with `invalid_range` or
`invalid_month`.
"""

import datetime

import schemathesis

# A little inside the extension's bounds: "today" differs by time zone (UTC-12 to UTC+14).
MAX_SPAN_DAYS = 1090


def _date(text):
    try:
        return datetime.date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def _report_query_ok(query):
    """A positive report query whose range the extension takes."""
    if not isinstance(query, dict):
        return True
    today = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=12)).date()
    start, end = _date(query.get("from")), _date(query.get("to"))
    if query.get("to") is not None and end is None:
        return True
    if query.get("from") is not None and start is None:
        return True
    end = end or today
    start = start or (end - datetime.timedelta(days=29))
    return start <= end and (end - start).days <= MAX_SPAN_DAYS


def _month_ok(query):
    """A positive month query that is not after the current month anywhere."""
    if not isinstance(query, dict) or not isinstance(query.get("month"), str):
        return True
    # The earliest current month on Earth (UTC-12): never after any clinic's.
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=12)
    return query["month"] <= f"{now.year:04d}-{now.month:02d}"


@schemathesis.hook
def filter_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    path = case.operation.path
    if path.endswith("/reports") and not _report_query_ok(case.query):
        return False
    if path.endswith("/usage") or path.endswith("/statement"):
        if not _month_ok(case.query):
            return False
    if not isinstance(case.body, dict):
        return True
    settings = case.body.get("settings")
    if not isinstance(settings, dict):
        return True
    low, high = settings.get("eta_min_minutes"), settings.get("eta_max_minutes")
    if low is None and high is None:
        return True
    return isinstance(low, (int, float)) and isinstance(high, (int, float)) and low <= high
