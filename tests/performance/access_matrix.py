"""Who may open each performance page (see test_access.py and tests/test_access_matrix.py)."""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
RELEASE_MANAGERS = {"bob", "alice"}
BASE = "/performance/shop/production/v/1.0.0/"

MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "performance:index": ("GET", "/performance/", EVERYONE_WITH_A_ROLE),
    "performance:channel": ("GET", "/performance/shop/production/", EVERYONE_WITH_A_ROLE),
    "performance:release": ("GET", BASE, EVERYONE_WITH_A_ROLE),
    "performance:baseline": ("POST", BASE + "baseline/", RELEASE_MANAGERS),
    "performance:measure": ("POST", BASE + "measure/", RELEASE_MANAGERS),
    "performance:optimise": ("POST", BASE + "optimise/", RELEASE_MANAGERS),
}
PUBLIC: set[str] = set()
