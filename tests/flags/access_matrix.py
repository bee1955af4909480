"""Who may open each flags page (checked by test_access.py and tests/test_access_matrix.py).
``{flag}`` is the primary key of a flag on shop/production."""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
MANAGE = {"bob", "alice"}  # accounts.manage_rollouts
APPROVE = {"bob", "alice"}  # accounts.approve_rollouts

MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "flags:list": ("GET", "/flags/", EVERYONE_WITH_A_ROLE),
    "flags:detail": ("GET", "/flags/{flag}/", EVERYONE_WITH_A_ROLE),
    "flags:new": ("GET", "/flags/new/", MANAGE),
    "flags:edit": ("GET", "/flags/{flag}/edit/", MANAGE),
    "flags:start": ("POST", "/flags/{flag}/start/", MANAGE),
    "flags:pause": ("POST", "/flags/{flag}/pause/", MANAGE),
    "flags:resume": ("POST", "/flags/{flag}/resume/", MANAGE),
    "flags:kill": ("POST", "/flags/{flag}/kill/", MANAGE),
    "flags:unkill": ("POST", "/flags/{flag}/unkill/", MANAGE),
    "flags:decide": ("POST", "/flags/{flag}/decide/", APPROVE),
}
PUBLIC: set[str] = set()
