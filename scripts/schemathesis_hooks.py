"""The one rule of the OpenAPI document that JSON Schema cannot state, taught to schemathesis.

A clinic's settings must keep `eta_min_minutes` <= `eta_max_minutes`, checked on the settings
that result (an update is a patch over the stored ones). The document gives each key its own
range and says this in words; schemathesis reads only the ranges, so a request it calls
valid could break the pair. Such requests are not generated as valid ones: a valid body sets
both keys in order, or neither. Invalid requests are left as they are (the server refuses
them anyway), and every check stays on. scripts/schemathesis.sh loads this file.
"""

import schemathesis


@schemathesis.hook
def filter_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return True
    settings = case.body.get("settings")
    if not isinstance(settings, dict):
        return True
    low, high = settings.get("eta_min_minutes"), settings.get("eta_max_minutes")
    if low is None and high is None:
        return True
    return isinstance(low, (int, float)) and isinstance(high, (int, float)) and low <= high
