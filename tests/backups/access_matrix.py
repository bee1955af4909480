"""Who may open each backups view (see tests/test_access_matrix.py for the shape)."""

EVERYONE_WITH_A_ROLE = {"dave", "carol", "bob", "alice"}
OPERATORS = {"carol", "alice"}

MATRIX: dict[str, tuple[str, str, set[str]]] = {
    "backups:sources": ("GET", "/backups/", EVERYONE_WITH_A_ROLE),
    "backups:source_add": ("GET", "/backups/sources/add/", OPERATORS),
    "backups:source": ("GET", "/backups/sources/{source}/", EVERYONE_WITH_A_ROLE),
    "backups:source_backup": ("POST", "/backups/sources/{source}/backup/", OPERATORS),
    "backups:source_verify": ("POST", "/backups/sources/{source}/verify/", OPERATORS),
    "backups:source_drill": ("POST", "/backups/sources/{source}/drill/", OPERATORS),
    "backups:retention": ("GET", "/backups/sources/{source}/retention/", EVERYONE_WITH_A_ROLE),
    "backups:retention_apply": ("POST", "/backups/sources/{source}/retention/apply/", OPERATORS),
    "backups:backup": ("GET", "/backups/backups/{backup}/", EVERYONE_WITH_A_ROLE),
    "backups:backup_pin": ("POST", "/backups/backups/{backup}/pin/", OPERATORS),
    "backups:restore_new": ("GET", "/backups/backups/{backup}/restore/", OPERATORS),
    "backups:restore": ("GET", "/backups/restores/{restore}/", EVERYONE_WITH_A_ROLE),
}
PUBLIC: set[str] = set()
