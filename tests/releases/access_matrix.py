"""Who may open each releases page (read by tests/test_access_matrix.py and test_access.py)."""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
PUBLISHERS = {"bob", "alice"}
ROLLOUT_MANAGERS = {"bob", "alice"}  # accounts.manage_rollouts
APPROVERS = {"bob", "alice"}  # accounts.approve_rollouts
BREAK_GLASS = {"alice"}  # accounts.break_glass

MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "releases:apps": ("GET", "/releases/", EVERYONE_WITH_A_ROLE),
    "releases:app_create": ("POST", "/releases/create/", PUBLISHERS),
    "releases:app": ("GET", "/releases/shop/", EVERYONE_WITH_A_ROLE),
    "releases:channel_create": ("POST", "/releases/shop/channels/", PUBLISHERS),
    "releases:channel_rotate": ("POST", "/releases/shop/channels/production/rotate/", PUBLISHERS),
    "releases:channel_testers": ("POST", "/releases/shop/channels/production/testers/", PUBLISHERS),
    "releases:channel_gate": ("GET", "/releases/shop/channels/production/gate/", PUBLISHERS),
    "releases:budgets": ("POST", "/releases/shop/budgets/", PUBLISHERS),
    "releases:publish": ("GET", "/releases/shop/publish/", PUBLISHERS),
    "releases:release": ("GET", "/releases/shop/v/1.0.0/", EVERYONE_WITH_A_ROLE),
    "releases:release_disable": ("POST", "/releases/shop/v/1.0.0/disable/", PUBLISHERS),
    "releases:release_override": ("POST", "/releases/shop/v/1.0.0/override/", PUBLISHERS),
    # Rollouts ({rollout}: a running rollout of 1.0.0 on production, started by alice).
    "releases:rollouts": ("GET", "/releases/rollouts/", EVERYONE_WITH_A_ROLE),
    "releases:rollout": ("GET", "/releases/rollouts/{rollout}/", EVERYONE_WITH_A_ROLE),
    "releases:rollout_start": ("POST", "/releases/shop/v/1.0.0/rollout/", ROLLOUT_MANAGERS),
    "releases:rollout_pause": ("POST", "/releases/rollouts/{rollout}/pause/", ROLLOUT_MANAGERS),
    "releases:rollout_resume": ("POST", "/releases/rollouts/{rollout}/resume/", ROLLOUT_MANAGERS),
    "releases:rollout_abort": ("POST", "/releases/rollouts/{rollout}/abort/", ROLLOUT_MANAGERS),
    "releases:rollout_restart": (
        "POST",
        "/releases/rollouts/{rollout}/restart/",
        ROLLOUT_MANAGERS,
    ),
    "releases:rollout_rollback": (
        "POST",
        "/releases/rollouts/{rollout}/rollback/",
        ROLLOUT_MANAGERS,
    ),
    "releases:rollout_decide": ("POST", "/releases/rollouts/{rollout}/decide/", APPROVERS),
    # Blue-green (on {rollout}, a canary, they answer with a message: 302).
    "releases:rollout_switch": ("POST", "/releases/rollouts/{rollout}/switch/", ROLLOUT_MANAGERS),
    "releases:rollout_flip_back": (
        "POST",
        "/releases/rollouts/{rollout}/flip-back/",
        ROLLOUT_MANAGERS,
    ),
    "releases:rollout_promote": ("POST", "/releases/rollouts/{rollout}/promote/", BREAK_GLASS),
    "releases:rollout_skip": ("POST", "/releases/rollouts/{rollout}/skip/", BREAK_GLASS),
}
PUBLIC: set[str] = set()
