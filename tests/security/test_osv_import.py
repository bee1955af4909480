"""Importing OSV exports: dedupe through aliases, withdrawn skipped, idempotent, safe zips."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from security import osv
from security.models import Advisory, AdvisoryAlias, AdvisoryRecord, AffectedPackage, OsvImport
from tests.security.conftest import advisory, load_osv, osv_zip, zip_bytes

pytestmark = pytest.mark.django_db


def _import(data: bytes):
    return osv.import_export(io.BytesIO(data), filename="all.zip", size=len(data))


def test_it_stores_records_with_their_affected_packages_and_fixed_versions():
    load_osv(
        advisory(
            "PYSEC-1",
            "Django",
            events=[{"introduced": "0"}, {"fixed": "4.2.1"}],
            aliases=["CVE-2026-1"],
        )
    )
    affected = AffectedPackage.objects.get()
    assert (affected.name, affected.fixed) == ("django", ["4.2.1"])
    assert Advisory.objects.get().severity == "high"


def test_records_sharing_an_alias_become_one_canonical_advisory():
    load_osv(
        advisory("GHSA-aaaa-bbbb-cccc", "django", aliases=["CVE-2026-1"], severity="CRITICAL"),
        advisory("PYSEC-2026-1", "django", aliases=["CVE-2026-1"], severity="LOW"),
    )
    assert Advisory.objects.count() == 1
    assert set(AdvisoryAlias.objects.values_list("alias", flat=True)) == {
        "GHSA-aaaa-bbbb-cccc",
        "PYSEC-2026-1",
        "CVE-2026-1",
    }
    assert Advisory.objects.get().severity == "critical"  # the worst of the group


def test_a_record_linking_two_groups_merges_them_later():
    load_osv(advisory("A-1", "pkg", aliases=["CVE-1"]), advisory("B-1", "pkg", aliases=["CVE-2"]))
    assert Advisory.objects.count() == 2
    load_osv(advisory("C-1", "pkg", aliases=["CVE-1", "CVE-2"]))
    assert Advisory.objects.count() == 1
    assert AdvisoryRecord.objects.filter(advisory=Advisory.objects.get()).count() == 3


def test_withdrawn_advisories_are_skipped():
    imp = load_osv(
        advisory("A-1", "pkg"),
        advisory("A-2", "pkg", withdrawn="2026-01-02T00:00:00Z"),
    )
    assert list(AdvisoryRecord.objects.values_list("osv_id", flat=True)) == ["A-1"]
    assert imp.counts["withdrawn"] == 1


def test_a_later_withdrawal_removes_the_stored_record():
    load_osv(advisory("A-1", "pkg"))
    load_osv(
        advisory("A-1", "pkg", modified="2026-02-01T00:00:00Z", withdrawn="2026-02-01T00:00:00Z")
    )
    assert not AdvisoryRecord.objects.exists()


def test_re_importing_the_same_export_changes_nothing():
    docs = [advisory("A-1", "pkg"), advisory("A-2", "other")]
    load_osv(*docs)
    second = load_osv(*docs)
    assert second.counts["unchanged"] == 2
    assert (AdvisoryRecord.objects.count(), AffectedPackage.objects.count()) == (2, 2)


def test_a_newer_modified_timestamp_replaces_the_record():
    load_osv(advisory("A-1", "pkg", events=[{"introduced": "0"}, {"fixed": "1.0"}]))
    newer = advisory(
        "A-1",
        "pkg",
        events=[{"introduced": "0"}, {"fixed": "2.0"}],
        modified="2026-03-01T00:00:00Z",
    )
    imp = load_osv(newer)
    assert imp.counts["records_updated"] == 1
    assert AffectedPackage.objects.get().fixed == ["2.0"]


def test_an_older_copy_does_not_overwrite_a_newer_one():
    load_osv(
        advisory(
            "A-1",
            "pkg",
            events=[{"introduced": "0"}, {"fixed": "2.0"}],
            modified="2026-03-01T00:00:00Z",
        )
    )
    load_osv(advisory("A-1", "pkg", events=[{"introduced": "0"}, {"fixed": "1.0"}]))
    assert AffectedPackage.objects.get().fixed == ["2.0"]


def test_other_ecosystems_are_counted_not_stored():
    imp = load_osv(advisory("GO-1", "example.org/mod", ecosystem="Go"))
    assert imp.counts["other_ecosystems"] == 1
    assert not AdvisoryRecord.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a zip at all", "not a valid zip"),
        (zip_bytes({"../evil.json": json.dumps(advisory("A-1", "pkg"))}), "'..'"),
        (zip_bytes({"/abs.json": json.dumps(advisory("A-1", "pkg"))}), "absolute"),
        (zip_bytes({"bad.json": "{not json"}), "not JSON"),
        (zip_bytes({"x.json": json.dumps({"modified": "2026-01-01T00:00:00Z"})}), "no id"),
        (zip_bytes({"readme.txt": "hello"}), "no .json"),
    ],
)
def test_a_bad_export_is_rejected_with_nothing_stored(data, message):
    with pytest.raises(osv.ImportRejected, match=message):
        _import(data)
    assert not Advisory.objects.exists()
    assert not OsvImport.objects.exists()


def test_one_bad_entry_rejects_the_whole_file():
    data = zip_bytes({"A-1.json": json.dumps(advisory("A-1", "pkg")), "bad.json": "[1,"})
    with pytest.raises(osv.ImportRejected):
        _import(data)
    assert not AdvisoryRecord.objects.exists()


def test_entries_larger_than_the_limit_are_refused(settings):
    settings.SECURITY_OSV_MAX_ENTRY_BYTES = 100
    with pytest.raises(osv.ImportRejected, match="limit"):
        _import(osv_zip(advisory("A-1", "pkg", summary="x" * 500)))


def test_a_zip_bomb_entry_is_refused():
    data = zip_bytes({"bomb.json": json.dumps({"id": "X", "pad": "0" * 2_000_000})})
    with pytest.raises(osv.ImportRejected, match="inflates"):
        _import(data)


def test_an_import_writes_one_audit_row():
    imp = load_osv(advisory("A-1", "pkg"))
    event = AuditEvent.objects.get(action="security.osv_imported")
    assert event.object_id == str(imp.pk)


def test_the_command_imports_a_file(tmp_path):
    path = tmp_path / "all.zip"
    path.write_bytes(osv_zip(advisory("A-1", "pkg"), advisory("A-2", "pkg", ecosystem="npm")))
    out = io.StringIO()
    call_command("import_osv", str(path), stdout=out)
    assert "2 new" in out.getvalue()
    assert AdvisoryRecord.objects.count() == 2


def test_the_command_refuses_a_bad_file(tmp_path):
    path = tmp_path / "all.zip"
    path.write_bytes(b"nope")
    with pytest.raises(CommandError, match="nothing was stored"):
        call_command("import_osv", str(path))


def test_merging_groups_keeps_one_finding_per_package_and_audits_it(db):
    from releases.models import App
    from security import scanning
    from security.findings import reconcile
    from security.models import Finding

    app = App.objects.create(slug="shop", name="Shop")
    report = {
        "dependencies": [
            {"name": "pkg", "version": "1.0", "vulns": [{"id": "A-1"}, {"id": "B-1"}]},
        ]
    }
    reconcile([scanning.import_report(app, "pip_audit", json.dumps(report).encode())], closes=True)
    assert Finding.objects.count() == 2
    load_osv(advisory("C-1", "pkg", aliases=["A-1", "B-1"]))
    assert Finding.objects.count() == 1
    assert AuditEvent.objects.filter(action="security.finding_merged").count() == 1
