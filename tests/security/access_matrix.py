"""Who may open each security page (see test_access.py and tests/test_access_matrix.py).

Paths name ``{finding}``, ``{scan}``, ``{patch}`` and ``{app}``, filled in by test_access.py's
fixture.
"""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
OPERATORS = {"carol", "alice"}  # accounts.run_maintenance
ADMIN = {"alice"}
PUBLISHERS = {"bob", "alice"}  # accounts.publish_release: security patches publish a release

MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "security:findings": ("GET", "/security/", EVERYONE_WITH_A_ROLE),
    "security:finding": ("GET", "/security/findings/{finding}/", EVERYONE_WITH_A_ROLE),
    "security:acknowledge": ("POST", "/security/findings/{finding}/acknowledge/", OPERATORS),
    "security:suppress": ("POST", "/security/findings/{finding}/suppress/", OPERATORS),
    "security:scans": ("GET", "/security/scans/", EVERYONE_WITH_A_ROLE),
    "security:scan": ("GET", "/security/scans/{scan}/", EVERYONE_WITH_A_ROLE),
    "security:report_upload": ("GET", "/security/scans/upload/", OPERATORS),
    "security:advisories": ("GET", "/security/advisories/", ADMIN),
    "security:patches": ("GET", "/security/patches/", EVERYONE_WITH_A_ROLE),
    "security:patch": ("GET", "/security/patches/{patch}/", EVERYONE_WITH_A_ROLE),
    "security:patch_new": ("GET", "/security/patches/new/{app}/", PUBLISHERS),
    "security:patch_cancel": ("POST", "/security/patches/{patch}/cancel/", PUBLISHERS),
}
PUBLIC: set[str] = set()
