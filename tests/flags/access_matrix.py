"""Who may open each flags page (see test_access.py and tests/test_access_matrix.py)."""

MATRIX: dict[str, tuple[str, str, set[str]]] = {}
PUBLIC: set[str] = set()
