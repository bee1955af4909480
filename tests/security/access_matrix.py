"""Who may open each security page (see test_access.py and tests/test_access_matrix.py).

Paths name ``{finding}`` and ``{scan}``, filled in by test_access.py's fixture.
"""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
OPERATORS = {"carol", "alice"}  # accounts.run_maintenance
ADMIN = {"alice"}

MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "security:findings": ("GET", "/security/", EVERYONE_WITH_A_ROLE),
    "security:finding": ("GET", "/security/findings/{finding}/", EVERYONE_WITH_A_ROLE),
    "security:acknowledge": ("POST", "/security/findings/{finding}/acknowledge/", OPERATORS),
    "security:suppress": ("POST", "/security/findings/{finding}/suppress/", OPERATORS),
    "security:scans": ("GET", "/security/scans/", EVERYONE_WITH_A_ROLE),
    "security:scan": ("GET", "/security/scans/{scan}/", EVERYONE_WITH_A_ROLE),
    "security:report_upload": ("GET", "/security/scans/upload/", OPERATORS),
    "security:advisories": ("GET", "/security/advisories/", ADMIN),
}
PUBLIC: set[str] = set()
