"""Write a small seed corpus for the harnesses (generated, never committed).

    python fuzz/make_seeds.py fuzz/corpus     # -> fuzz/corpus/{walker,logparser,xml}/

Seeds are valid shapes the fuzzer would take long to discover on its own: a tar, a tar.gz,
a zip with a nested zip, a gzip'd log, a tar.xz, GNU long-name / PAX / sparse / link headers,
and log lines of every agent generation.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import sys
import tarfile
import zipfile
from pathlib import Path

LOG = (
    b"2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler Azure Linux Agent Version: 2.9.1.1\n"
    b"2024-01-31T10:01:00.000000Z WARNING ExtHandler ExtHandler Fetch failed: [HttpError] "
    b"[HTTP Failed] GET http://168.63.129.16/machine/?comp=goalstate -- IOError timed out\n"
    b"Traceback (most recent call last):\n  File \"x.py\", line 1\n"
    b"2021-05-28T01:17:40.683072Z INFO ExtHandler [Microsoft.OSTCExtensions.VMAccessForLinux-1.5.2]"
    b" Event: name=X, op=Enable, message=eJxLy0nMBQAGhQJB, duration=0\n"
    b"2021/03/30 19:35:35.971742 INFO Daemon Azure Linux Agent Version:2.2.45\n"
    b"2016/03/01 10:00:05 ERROR:HTTP Err: Status=503\r\n"
    b"Jan 31 10:00:00 vm1 WALinuxAgent: 2024-01-31T10:00:00.000000Z INFO Daemon OS: ubuntu 22.04\n"
    b"2024-01-14 22:16:48.796446  Info  snapshot started\n"
)
GOAL_STATE = (
    b'<?xml version="1.0" encoding="utf-8"?><GoalState xmlns:xsi="http://www.w3.org/2001/'
    b'XMLSchema-instance"><Version>2012-11-30</Version><Incarnation>3</Incarnation><Machine>'
    b"<ExpectedState>Started</ExpectedState></Machine><Container><ContainerId>c</ContainerId>"
    b"<RoleInstanceList><RoleInstance><InstanceId>i</InstanceId><Configuration>"
    b"<ExtensionsConfig>http://x/</ExtensionsConfig></Configuration></RoleInstance>"
    b"</RoleInstanceList></Container></GoalState>"
)
EXT_CONFIG = (
    b'<Extensions goalStateIncarnation="3"><Plugins><Plugin name="Microsoft.Azure.'
    b'RecoveryServices.VMSnapshotLinux" version="1.0.9225.0" state="enabled"/></Plugins>'
    b'<PluginSettings><Plugin name="Microsoft.Azure.RecoveryServices.VMSnapshotLinux" '
    b'version="1.0.9225.0"><RuntimeSettings seqNo="5">{"runtimeSettings":[{"handlerSettings":'
    b'{"publicSettings":{"k":1}}}]}</RuntimeSettings></Plugin></PluginSettings></Extensions>'
)


def _tar(entries: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w",
         fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=fmt) as archive:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                archive.addfile(entry)
                continue
            name, data = entry
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1706695200
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buf.getvalue()


def walker_seeds() -> list[bytes]:
    files = [("var/log/waagent.log", LOG), ("var/lib/waagent/GoalState.3.xml", GOAL_STATE)]
    inner = _zip([("GoalState.xml", GOAL_STATE), ("ExtensionsConfig.xml", EXT_CONFIG)])
    logs = _zip([("var/log/waagent.log", LOG), ("history/2024-01-31T10-00-00__3.zip", inner)])
    links = [
        _link("var/log/azure", "/etc", tarfile.SYMTYPE),
        _link("hl", "var/log/waagent.log", tarfile.LNKTYPE),
        _link("fifo", "", tarfile.FIFOTYPE),
    ]
    long_name = "var/log/" + "d" * 150 + "/waagent.log"
    return [
        _tar(files),
        _tar(files, "w:gz"),
        _tar(files, "w:xz"),
        _tar([*files, ("var/lib/waagent/logcollector/logs.zip", logs)], "w:gz"),
        _tar([("var/log/waagent.log", LOG), *links]),
        _tar([(long_name, LOG)], fmt=tarfile.GNU_FORMAT),
        _tar([(long_name, LOG), ("caf\u00e9.log", b"x\n")], fmt=tarfile.PAX_FORMAT),
        logs,
        gzip.compress(LOG, mtime=0),
        lzma.compress(LOG),
        LOG,
    ]


def logparser_seeds() -> list[bytes]:
    # First bytes feed the chunk size and the log kind (FuzzedDataProvider).
    return [b"\x10\x00\x00\x00\x00\x00\x00\x00" + LOG, b"\x03\x00\x00\x00\x02\x00\x00\x00" + LOG]


def xml_seeds() -> list[bytes]:
    return [bytes([i]) + doc for i, doc in enumerate((GOAL_STATE, GOAL_STATE, EXT_CONFIG))]


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus")
    for name, seeds in (("walker", walker_seeds()), ("logparser", logparser_seeds()),
                        ("xml", xml_seeds())):
        directory = root / name
        directory.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            (directory / f"seed-{hashlib.sha1(seed).hexdigest()[:16]}").write_bytes(seed)
    print(f"seeds written under {root}")


if __name__ == "__main__":
    main()
