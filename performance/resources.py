"""The ResourceOptimizer: recommendations for a release's bundle with *measured* savings, and
the optimised bundle built from the auto-applicable ones, published as a new candidate release.

Every saving is the size difference of bytes actually produced here (never an estimate):

* ``minify_js`` / ``minify_css``: the file minified (rjsmin / rcssmin), raw and gzip (level 6,
  as ``releases.analysis`` measures) before and after. Auto-applicable: the name stays.
* ``png_recompress``: the PNG re-saved losslessly by Pillow (``optimize=True``), kept only when
  smaller **and** decoding to the same pixels. Auto-applicable: the name stays.
* ``webp``: PNG → lossless WebP, JPEG → WebP at ``WEBP_QUALITY``, reported when smaller. Not
  auto-applicable: the file name changes and the code referencing it would have to change too.
* ``duplicate``: the same bytes under several paths (``releases.analysis``' duplicates);
  keeping one copy saves ``size x (copies - 1)``. Not auto-applicable (references).
* ``oversized_image``: an image whose longest side exceeds ``MAX_IMAGE_SIDE`` px, re-encoded in
  its own format at that size; not auto-applicable (the layout must agree).
"""

from __future__ import annotations

import io
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import rcssmin
import rjsmin
from django.db import transaction
from django.utils import timezone
from PIL import Image

from audit.trail import record
from performance.models import BundleReport, Candidate
from releases import bundles, publishing
from releases.models import Channel, Release
from releases.versioning import newest_first, parse

JS_SUFFIXES = {".js", ".mjs", ".cjs"}
CSS_SUFFIXES = {".css"}
PNG_SUFFIXES = {".png"}
JPEG_SUFFIXES = {".jpg", ".jpeg"}
WEBP_QUALITY = 80
MAX_IMAGE_SIDE = 1500
# Images larger than this many pixels are not decoded (Pillow's bomb guard, made an error).
MAX_PIXELS = 40_000_000
AUTO_KINDS = {"minify_js", "minify_css", "png_recompress"}
KIND_LABELS = {
    "minify_js": "Minify JavaScript",
    "minify_css": "Minify CSS",
    "png_recompress": "Recompress PNG losslessly",
    "webp": "Convert image to WebP",
    "duplicate": "Remove duplicate files",
    "oversized_image": "Downscale oversized image",
}


class OptimiseError(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def gzip_size(data: bytes) -> int:
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    return len(gz.compress(data) + gz.flush())


def minify(path: str, data: bytes) -> bytes | None:
    """The minified file, or None when it is not a JS/CSS file or not UTF-8 text."""
    suffix = PurePosixPath(path).suffix.lower()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if suffix in JS_SUFFIXES:
        return rjsmin.jsmin(text).encode("utf-8")
    if suffix in CSS_SUFFIXES:
        return rcssmin.cssmin(text).encode("utf-8")
    return None


def _open_image(data: bytes) -> Image.Image | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                return None
            image.load()
            return image
    except (OSError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None


def _pixels(image: Image.Image) -> bytes:
    return image.convert("RGBA").tobytes()


def recompress_png(data: bytes) -> bytes | None:
    """A lossless re-save of a PNG when it is smaller and decodes to the same pixels."""
    image = _open_image(data)
    if image is None or image.format != "PNG":
        return None
    out = io.BytesIO()
    options: dict = {"optimize": True}
    for key in ("transparency", "icc_profile", "dpi", "gamma"):
        if key in image.info:
            options[key] = image.info[key]
    try:
        image.save(out, "PNG", **options)
    except (OSError, ValueError, TypeError):
        return None
    result = out.getvalue()
    if len(result) >= len(data):
        return None
    again = _open_image(result)
    if (
        again is None
        or again.mode != image.mode
        or again.size != image.size
        or again.tobytes() != image.tobytes()
        or _pixels(again) != _pixels(image)  # also the palette and transparency, rendered
    ):
        return None
    return result


def to_webp(data: bytes) -> bytes | None:
    image = _open_image(data)
    if image is None or image.format not in ("PNG", "JPEG"):
        return None
    out = io.BytesIO()
    if image.format == "PNG":
        mode = "RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"
        image.convert(mode).save(out, "WEBP", lossless=True, method=6)
    else:
        image.convert("RGB").save(out, "WEBP", quality=WEBP_QUALITY, method=6)
    return out.getvalue()


def downscale(data: bytes) -> tuple[bytes, tuple[int, int], tuple[int, int]] | None:
    """The image re-encoded in its own format with its longest side at MAX_IMAGE_SIDE."""
    image = _open_image(data)
    if image is None or max(image.size) <= MAX_IMAGE_SIDE or image.format not in ("PNG", "JPEG"):
        return None
    scale = MAX_IMAGE_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if image.format == "PNG":
        resized.save(out, "PNG", optimize=True)
    else:
        resized.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue(), image.size, size


def optimised_member(path: str, data: bytes) -> tuple[str, bytes] | None:
    """(kind, new bytes) of the auto-applicable optimisation of one file, if it saves bytes."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in JS_SUFFIXES | CSS_SUFFIXES:
        result = minify(path, data)
        if result is not None and len(result) < len(data):
            return ("minify_js" if suffix in JS_SUFFIXES else "minify_css"), result
    elif suffix in PNG_SUFFIXES:
        result = recompress_png(data)
        if result is not None:
            return "png_recompress", result
    return None


def _entry(kind: str, path: str, before: bytes | int, after: bytes | int, **extra) -> dict:
    raw_before = before if isinstance(before, int) else len(before)
    raw_after = after if isinstance(after, int) else len(after)
    entry = {
        "kind": kind,
        "label": KIND_LABELS[kind],
        "path": path,
        "before": raw_before,
        "after": raw_after,
        "saved": raw_before - raw_after,
        "auto": kind in AUTO_KINDS,
        "before_gzip": None,  # measured for files rewritten in place (minified, recompressed)
        "after_gzip": None,
        "saved_gzip": None,
        "detail": "",
    }
    if isinstance(before, bytes) and isinstance(after, bytes):
        gb, ga = gzip_size(before), gzip_size(after)
        entry.update(before_gzip=gb, after_gzip=ga, saved_gzip=gb - ga)
    entry.update(extra)
    return entry


def recommend(path_on_disk, analysis: dict) -> list[dict]:
    """Measure every recommendation for the bundle zip at ``path_on_disk``."""
    found: list[dict] = []
    with zipfile.ZipFile(path_on_disk) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            suffix = PurePosixPath(name).suffix.lower()
            if suffix not in JS_SUFFIXES | CSS_SUFFIXES | PNG_SUFFIXES | JPEG_SUFFIXES:
                continue
            data = archive.read(info)
            auto = optimised_member(name, data)
            if auto is not None:
                found.append(_entry(auto[0], name, data, auto[1]))
            if suffix in PNG_SUFFIXES | JPEG_SUFFIXES:
                webp = to_webp(data)
                if webp is not None and len(webp) < len(data):
                    found.append(
                        _entry(
                            "webp",
                            name,
                            len(data),
                            len(webp),
                            detail="lossless" if suffix in PNG_SUFFIXES else f"q{WEBP_QUALITY}",
                        )
                    )
                scaled = downscale(data)
                if scaled is not None and len(scaled[0]) < len(data):
                    (w, h), (nw, nh) = scaled[1], scaled[2]
                    found.append(
                        _entry(
                            "oversized_image",
                            name,
                            len(data),
                            len(scaled[0]),
                            detail=f"{w}x{h} px → {nw}x{nh} px",
                        )
                    )
    for dup in analysis.get("duplicates", []):
        copies = len(dup["paths"])
        found.append(
            _entry(
                "duplicate",
                ", ".join(dup["paths"]),
                dup["raw"] * copies,
                dup["raw"],
                detail=f"{copies} copies of {dup['sha256'][:12]}",
            )
        )
    found.sort(key=lambda r: (not r["auto"], -r["saved"], r["path"]))
    return found


def totals(recommendations: list[dict]) -> dict:
    auto = [r for r in recommendations if r["auto"]]
    return {
        "auto_raw": sum(r["saved"] for r in auto),
        "auto_gzip": sum(r["saved_gzip"] or 0 for r in auto),
        "all_raw": sum(r["saved"] for r in recommendations),
        "count": len(recommendations),
        "auto_count": len(auto),
    }


def report_for(release: Release) -> BundleReport | None:
    return BundleReport.objects.filter(bundle_sha256=release.bundle_sha256).first()


def measure(release: Release, *, now=None) -> BundleReport:
    """The bundle's report, measured now if it has none yet (bundles never change)."""
    existing = report_for(release)
    if existing is not None:
        return existing
    path = bundles.bundle_path(release.bundle_sha256)
    if not path.exists():
        raise OptimiseError(409, "bundle_missing", f"the bundle file of {release} is missing")
    recommendations = recommend(path, release.analysis or {})
    summary = totals(recommendations)
    with transaction.atomic():
        report, created = BundleReport.objects.get_or_create(
            bundle_sha256=release.bundle_sha256,
            defaults={
                "recommendations": recommendations,
                "totals": summary,
                "measured_at": now or timezone.now(),
            },
        )
        if created:
            record("performance.bundle_measured", release, after=summary)
    return report


# ------------------------------------------------------------------ optimised candidates


def candidate_version(latest: str) -> str:
    """A version above ``latest`` that marks an optimised build: 1.4.0 → 1.4.1-optimized.1;
    1.4.1-optimized.1 → 1.4.1-optimized.2; 1.5.0-rc.1 → 1.5.0-rc.1.optimized.1."""
    v = parse(latest).replace(build=None)
    if not v.prerelease:
        return str(v.bump_patch().replace(prerelease="optimized.1"))
    parts = v.prerelease.split(".")
    if len(parts) >= 2 and parts[-2] == "optimized" and parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return str(v.replace(prerelease=".".join(parts)))
    return str(v.replace(prerelease=f"{v.prerelease}.optimized.1"))


@dataclass
class Built:
    file: object  # a temporary file holding the optimised zip
    applied: list[dict]

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(bundles.CHUNK):
            yield chunk


def build(release: Release) -> Built:
    """The bundle with every auto-applicable optimisation applied (same names, same order)."""
    source = bundles.bundle_path(release.bundle_sha256)
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    applied = []
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(out, "w") as target:
        for info in archive.infolist():
            data = b"" if info.is_dir() else archive.read(info)
            change = None if info.is_dir() else optimised_member(info.filename, data)
            if change is not None:
                applied.append(
                    {
                        "path": info.filename,
                        "action": change[0],
                        "before": len(data),
                        "after": len(change[1]),
                    }
                )
                data = change[1]
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.external_attr = info.external_attr
            copy.compress_type = zipfile.ZIP_STORED if info.is_dir() else zipfile.ZIP_DEFLATED
            target.writestr(copy, data)
    return Built(out, applied)


def _check_not_served_at_once(release: Release) -> None:
    """Refuse when publishing would reach clients or a rollout without a person's decision."""
    channels = (
        [release.channel]
        if release.channel_id
        else list(Channel.objects.filter(app_id=release.app_id))
    )
    immediate = [c.name for c in channels if c.release_gate == Channel.ReleaseGate.IMMEDIATE]
    if immediate:
        raise OptimiseError(
            409,
            "immediate_gate",
            f"channel {', '.join(immediate)} serves new releases to everyone at once; a "
            "candidate must not be published automatically. Upload it by hand instead",
        )
    from releases import rollouts

    try:
        active = rollouts.check_upload(release.app, release.channel)
    except rollouts.RolloutError as exc:
        raise OptimiseError(409, exc.code, exc.detail) from None
    if active:
        raise OptimiseError(
            409,
            "rollout_running",
            f"a rollout is running on {active[0].channel}; a new release would supersede it",
        )


def create_candidate(release: Release, *, user, now=None) -> Candidate:
    """Publish the optimised bundle of ``release`` (the app's latest) as a new release through
    ``releases.publishing.publish``. The original release and its bundle are never touched."""
    now = now or timezone.now()
    app = release.app
    everything = newest_first(Release.objects.for_app(app).only("pk", "version"))
    if everything[0].pk != release.pk:
        raise OptimiseError(
            409,
            "not_latest",
            f"only the latest release ({everything[0].version}) can be optimised: a candidate "
            f"of {release.version} would be newer than releases built after it",
        )
    if release.is_disabled:
        raise OptimiseError(409, "disabled", f"{release.version} is disabled")
    _check_not_served_at_once(release)
    report = measure(release, now=now)
    if not report.totals.get("auto_count"):
        raise OptimiseError(409, "nothing_to_apply", "no auto-applicable saving was measured")
    version = candidate_version(release.version)
    built = build(release)
    try:
        saved = sum(a["before"] - a["after"] for a in built.applied)
        notes = (
            f"Optimised build of {release.version} made by the performance area: "
            + ", ".join(f"{a['action']} {a['path']}" for a in built.applied)
            + f". {saved} bytes smaller (uncompressed). Nothing else changed."
        )
        upload = publishing.Upload(
            version=version,
            chunks=built.chunks(),
            notes=notes[:5000],
            channel=release.channel,
            runtime_range=release.runtime_range,
        )
        try:
            new = publishing.publish(app, upload, author=user, now=now)
        except publishing.PublishError as exc:
            raise OptimiseError(exc.status, exc.code, exc.detail) from None
    finally:
        built.file.close()
    with transaction.atomic():
        candidate = Candidate.objects.create(
            source=release, release=new, created_by=user, created_at=now, applied=built.applied
        )
        record(
            "performance.candidate_created",
            new,
            after={
                "source": release.version,
                "candidate": new.version,
                "files": len(built.applied),
                "saved_raw": saved,
                "sha256": new.bundle_sha256,
            },
        )
    return candidate
