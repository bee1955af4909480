"""Who may open each monitoring page (checked by test_access.py and tests/test_access_matrix.py)."""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}

MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "monitoring:index": ("GET", "/monitoring/", EVERYONE_WITH_A_ROLE),
    "monitoring:channel": ("GET", "/monitoring/shop/production/", EVERYONE_WITH_A_ROLE),
}
# The telemetry endpoint is in the api_monitoring namespace (client-key authenticated).
PUBLIC: set[str] = set()
