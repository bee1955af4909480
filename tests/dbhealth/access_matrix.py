"""Who may open each dbhealth page (see test_access.py and tests/test_access_matrix.py).

Paths name ``{report}`` (a report of the console database) and ``{action}`` (a succeeded drop
of an index that no longer exists), made by test_access.py's fixture.
"""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
OPERATORS = {"carol", "alice"}  # accounts.run_maintenance

MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "dbhealth:index": ("GET", "/dbhealth/", EVERYONE_WITH_A_ROLE),
    "dbhealth:target": ("GET", "/dbhealth/console/", EVERYONE_WITH_A_ROLE),
    "dbhealth:report": ("GET", "/dbhealth/reports/{report}/", EVERYONE_WITH_A_ROLE),
    "dbhealth:analyse": ("POST", "/dbhealth/console/analyse/", OPERATORS),
    "dbhealth:reindex": ("POST", "/dbhealth/console/reindex/", OPERATORS),
    "dbhealth:analyze_table": ("POST", "/dbhealth/console/analyze-table/", OPERATORS),
    "dbhealth:drop": ("POST", "/dbhealth/console/drop/", OPERATORS),
    "dbhealth:recreate": ("POST", "/dbhealth/console/actions/{action}/recreate/", OPERATORS),
    "dbhealth:optimize": ("POST", "/dbhealth/console/optimize/", OPERATORS),
    "dbhealth:vacuum": ("POST", "/dbhealth/console/vacuum/", OPERATORS),
}
PUBLIC: set[str] = set()
