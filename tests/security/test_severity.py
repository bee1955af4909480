import pytest

from security.severity import cvss3_score, of_record


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ],
)
def test_cvss_v3_base_scores_match_the_specification(vector, score):
    assert cvss3_score(vector) == score


def test_other_vectors_are_not_scored():
    assert cvss3_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") is None
    assert cvss3_score("AV:N/AC:L/Au:N/C:P/I:P/A:P") is None


def test_the_databases_label_wins_and_moderate_is_medium():
    doc = {
        "database_specific": {"severity": "MODERATE"},
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }
    assert of_record(doc) == "medium"


def test_a_cvss_vector_gives_the_severity_when_no_label_exists():
    doc = {
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    }
    assert of_record(doc) == "critical"


def test_nothing_to_go_on_is_unknown():
    assert of_record({"severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}]}) == "unknown"
