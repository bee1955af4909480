"""Who may open each fleet page (see test_access.py and tests/test_access_matrix.py)."""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
RELEASE_MANAGERS = {"bob", "alice"}

# url name -> (method, path template, who may); {host} and {deployment} come from test_access.
MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "fleet:fleets": ("GET", "/fleet/", EVERYONE_WITH_A_ROLE),
    "fleet:fleet_create": ("GET", "/fleet/new/", RELEASE_MANAGERS),
    "fleet:fleet": ("GET", "/fleet/web/", EVERYONE_WITH_A_ROLE),
    "fleet:fleet_edit": ("GET", "/fleet/web/edit/", RELEASE_MANAGERS),
    # The access test's fleet has an active deployment: the deletion is refused (a redirect).
    "fleet:fleet_delete": ("POST", "/fleet/web/delete/", RELEASE_MANAGERS),
    "fleet:host_add": ("POST", "/fleet/web/hosts/", RELEASE_MANAGERS),
    "fleet:host_remove": ("POST", "/fleet/web/hosts/{host}/remove/", RELEASE_MANAGERS),
    "fleet:host_check": ("POST", "/fleet/web/hosts/{host}/check/", RELEASE_MANAGERS),
    "fleet:deploy": ("POST", "/fleet/web/deploy/", RELEASE_MANAGERS),
    "fleet:deployment": ("GET", "/fleet/deployments/{deployment}/", EVERYONE_WITH_A_ROLE),
    "fleet:deployment_abort": (
        "POST",
        "/fleet/deployments/{deployment}/abort/",
        RELEASE_MANAGERS,
    ),
}
# The deployment API is in the api_fleet namespace (token-authenticated, tested in test_api.py).
PUBLIC: set[str] = set()
