import pytest


@pytest.mark.parametrize(
    "model",
    [
        "finding",
        "scan",
        "scanpackage",
        "advisory",
        "advisoryalias",
        "advisoryrecord",
        "affectedpackage",
        "osvimport",
        "securitypatch",
    ],
)
def test_an_admin_can_list_each_security_record(login, alice, model):
    assert login(alice).get(f"/admin/security/{model}/").status_code == 200


def test_findings_cannot_be_added_in_the_admin(login, alice):
    assert login(alice).get("/admin/security/finding/add/").status_code == 403


def test_security_patches_cannot_be_added_in_the_admin(login, alice):
    assert login(alice).get("/admin/security/securitypatch/add/").status_code == 403
