"""Measured savings on real images, JS and CSS built here; the optimised candidate release."""

from __future__ import annotations

import gzip
import io
import random
import zipfile

import pytest
import rcssmin
import rjsmin
from PIL import Image

from audit.models import AuditEvent
from performance import resources
from performance.models import Candidate
from releases import bundles, publishing
from releases.models import Channel, Release
from tests.performance.conftest import publish

pytestmark = pytest.mark.django_db

JS = (
    """
// A comment the minifier drops.
function add(first, second) {
    /* and a block comment */
    return first + second;
}
"""
    * 20
)
CSS = (
    """
/* theme */
.button   {
    color : red ;
    margin : 0px ;
}
"""
    * 20
)


def png(size=(64, 64), *, level=0) -> bytes:
    image = Image.new("RGB", size)
    image.putdata(
        [((x * 4) % 256, (y * 4) % 256, 128) for y in range(size[1]) for x in range(size[0])]
    )
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=level)
    return out.getvalue()


def noise_png(size) -> bytes:
    data = random.Random(1).randbytes(size[0] * size[1] * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", size, data).save(out, "PNG")
    return out.getvalue()


def jpeg(size=(64, 64)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=100)
    return out.getvalue()


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6, mtime=0))


def by_kind(report, kind, path=None):
    return [
        r
        for r in report.recommendations
        if r["kind"] == kind and (path is None or r["path"] == path)
    ]


@pytest.fixture
def rich(app, channel):
    return publish(
        app,
        "1.0.0",
        {
            "index.js": JS,
            "style.css": CSS,
            "img/raw.png": png(),
            "img/photo.jpg": jpeg(),
            "img/copy-a.js": "var shared = 1;",
            "img/copy-b.js": "var shared = 1;",
            "img/wide.png": noise_png((1600, 20)),
        },
    )


def test_minifying_js_reports_the_real_raw_and_gzip_difference(rich):
    report = resources.measure(rich)
    (js,) = by_kind(report, "minify_js", "index.js")
    minified = rjsmin.jsmin(JS).encode()
    assert js["saved"] == len(JS.encode()) - len(minified)
    assert js["saved_gzip"] == gz(JS.encode()) - gz(minified)
    assert js["auto"] is True


def test_minifying_css_reports_the_real_difference(rich):
    (css,) = by_kind(resources.measure(rich), "minify_css")
    assert css["saved"] == len(CSS.encode()) - len(rcssmin.cssmin(CSS).encode())


def test_webp_savings_are_the_sizes_of_actual_encodings(rich):
    report = resources.measure(rich)
    (webp_png,) = by_kind(report, "webp", "img/raw.png")
    out = io.BytesIO()
    Image.open(io.BytesIO(png())).convert("RGB").save(out, "WEBP", lossless=True, method=6)
    assert webp_png["saved"] == len(png()) - len(out.getvalue())
    assert webp_png["auto"] is False
    (webp_jpg,) = by_kind(report, "webp", "img/photo.jpg")
    assert webp_jpg["before"] == len(jpeg())


def test_a_png_recompression_is_lossless_and_measured(rich):
    (entry,) = by_kind(resources.measure(rich), "png_recompress", "img/raw.png")
    smaller = resources.recompress_png(png())
    assert entry["saved"] == len(png()) - len(smaller)
    assert Image.open(io.BytesIO(smaller)).tobytes() == Image.open(io.BytesIO(png())).tobytes()


def test_duplicates_and_oversized_images_are_reported_not_auto(rich):
    report = resources.measure(rich)
    (dup,) = by_kind(report, "duplicate")
    assert dup["saved"] == len(b"var shared = 1;")
    (wide,) = by_kind(report, "oversized_image")
    assert wide["detail"] == "1600x20 px → 1500x19 px"
    assert not dup["auto"] and not wide["auto"]


def test_measuring_is_audited_once(rich):
    resources.measure(rich)
    resources.measure(rich)
    assert AuditEvent.objects.filter(action="performance.bundle_measured").count() == 1


def test_candidate_versions_stay_above_the_latest():
    assert resources.candidate_version("1.4.0") == "1.4.1-optimized.1"
    assert resources.candidate_version("1.4.1-optimized.1") == "1.4.1-optimized.2"
    assert resources.candidate_version("2.0.0-rc.1") == "2.0.0-rc.1.optimized.1"


def test_the_candidate_is_a_new_release_and_the_original_is_untouched(rich, bob):
    original_bytes = bundles.bundle_path(rich.bundle_sha256).read_bytes()
    before = Release.objects.filter(pk=rich.pk).values().get()
    candidate = resources.create_candidate(rich, user=bob)
    new = candidate.release
    assert new.version == "1.0.1-optimized.1"
    assert new.pk != rich.pk and new.author == bob
    assert Release.objects.filter(pk=rich.pk).values().get() == before
    assert bundles.bundle_path(rich.bundle_sha256).read_bytes() == original_bytes
    with zipfile.ZipFile(bundles.bundle_path(new.bundle_sha256)) as z:
        assert z.read("index.js") == rjsmin.jsmin(JS).encode()
        assert z.read("style.css") == rcssmin.cssmin(CSS).encode()
        assert z.read("img/raw.png") == resources.recompress_png(png())
        assert z.read("img/photo.jpg") == jpeg()  # not auto-applicable: left as it was
    saved = sum(a["before"] - a["after"] for a in candidate.applied)
    assert rich.bundle_size > new.bundle_size
    assert saved == rich.analysis["totals"]["raw"] - new.analysis["totals"]["raw"]
    assert AuditEvent.objects.filter(action="performance.candidate_created").exists()
    assert AuditEvent.objects.filter(action="release.published", object_id=str(new.pk)).exists()


def test_only_the_latest_release_can_be_optimised(app, rich, bob):
    publish(app, "1.1.0")
    with pytest.raises(resources.OptimiseError) as err:
        resources.create_candidate(rich, user=bob)
    assert err.value.code == "not_latest"
    assert not Candidate.objects.exists()


def test_a_channel_serving_releases_at_once_refuses_a_candidate(app, rich, bob):
    publishing.create_channel(app, name="beta", release_gate=Channel.ReleaseGate.IMMEDIATE)
    with pytest.raises(resources.OptimiseError) as err:
        resources.create_candidate(rich, user=bob)
    assert err.value.code == "immediate_gate"
    assert Release.objects.count() == 1


def test_nothing_auto_applicable_refuses(app, channel, bob):
    plain = publish(app, "1.0.0", {"data.bin": b"\x00\x01"})
    with pytest.raises(resources.OptimiseError) as err:
        resources.create_candidate(plain, user=bob)
    assert err.value.code == "nothing_to_apply"
