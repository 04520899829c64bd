"""#11: no planted secret appears in any output format of any command.

Hypothesis draws the secret; each example plants it, in every spelling of #11 item 6, in
every field and format a bundle can carry it in: waagent.log lines (also past the 600-character
evidence cut and the line cap), Plugin name/version/state XML attributes, JSON settings
(protected, secret-named keys, ``commandToExecute``), extension status files, member names and
waagent.conf. Then it checks every output of ``analyze`` (text, json, markdown, html), every
table of ``parse`` (csv, json, parquet), ``self-check`` (every format, and self-check.json),
``collect`` (the bundle it writes) and ``batch`` (its result files).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
TOKENS = st.text(alphabet="abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
                 min_size=12, max_size=20).map(lambda s: "Qz" + s)
ACCOUNT_KEY_PAD = "A" * 90

LOG_HEAD = "2024-01-31T10:{m:02d}:00.000000Z {level} ExtHandler ExtHandler "
FAILURE = ("[ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] GET "
           "http://168.63.129.16/machine/ -- IOError timed out -- 6 attempts made")


def spellings(secret: str) -> list[str]:
    """Every spelling of #11 item 6, carrying ``secret``."""
    key = (secret + ACCOUNT_KEY_PAD)[:86] + "=="
    jwt = f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{secret}In0.c2ln{secret}"
    return [
        rf"https://x.example/a?sv=1\u0026sig={secret}\u0026se=2",
        f"https%3A%2F%2Fx.example%2Fa%3Fsv%3D1%26sig%3D{secret}%26se%3D2",
        f"https://acct.blob.core.windows.net/c/b?sv=2020&sig={secret}&se=2030",
        f"protectedSettings={secret}",
        f'"protected_settings": "{secret}"',
        f"pwd={secret}", f"passphrase={secret}", f"AccountKey={secret}", key, jwt,
        f"--password {secret}", f"mysql -u root -p{secret} db", f'"sig": "{secret}"',
        f"api_key={secret}", f'"apiKey": "{secret}"', f"credentials={secret}",
        f"admin:{secret}@proxy.example.com", f"Bearer {secret}", f'"password": "{secret}"',
        f"<UserPassword>{secret}</UserPassword>",
    ]


def waagent_log(secret: str) -> bytes:
    lines = []
    for i, spelled in enumerate(spellings(secret)):
        lines.append(LOG_HEAD.format(m=i, level="WARNING") + f"{FAILURE} {spelled}")
    # Past the 600-character evidence cut, with its closing quote after the cut...
    lines.append(LOG_HEAD.format(m=40, level="WARNING") + FAILURE + " " + "x" * 560
                 + f' {{"password": "{secret}{"y" * 400}"}}')
    # ...and past the 64 KiB line cap, so the line loses its end.
    lines.append(LOG_HEAD.format(m=41, level="WARNING") + FAILURE + " " + "z" * 65_400
                 + f' "password": "{secret}' + "w" * 2000 + '"')
    lines.append(LOG_HEAD.format(m=42, level="INFO")
                 + "Provisioning.DeleteRootPassword=y Extensions.Enabled=y")
    return ("\n".join(lines) + "\n").encode()


def extensions_config(secret: str) -> bytes:
    settings_json = json.dumps({"runtimeSettings": [{"handlerSettings": {
        "protectedSettingsCertThumbprint": "F6AB",
        "protectedSettings": f"MIIB{secret}",
        "publicSettings": {"commandToExecute": f"mysql -p{secret} -e 'select 1'",
                           "storageAccountKey": secret, "apiKey": secret,
                           "fileUris": [f"https://acct.blob.core.windows.net/s/a.sh?sv=1&sig={secret}"]},
    }}]})
    plugin = (f'<Plugin name="Microsoft.Azure.Extensions.CustomScript" version="2.1.10?sig={secret}" '
              f'state="enabled?sig={secret}" location="https://x.example/m?sig={secret}" />')
    settings = (f'<Plugin name="Microsoft.Azure.Extensions.CustomScript" version="2.1.10?sig={secret}">'
                f"<RuntimeSettings seqNo=\"0\">{settings_json.replace('&', '&amp;')}</RuntimeSettings></Plugin>")
    extra = f'<Plugin name="api_key={secret}" version="1.0" state="enabled" />'
    return (f'<?xml version="1.0" encoding="utf-8"?><Extensions version="1.0.0.0" '
            f'goalStateIncarnation="3"><Plugins>{plugin}{extra}</Plugins><PluginSettings>'
            f"{settings}</PluginSettings><StatusUploadBlob statusBlobType=\"BlockBlob\">"
            f"https://acct.blob.core.windows.net/v/s.status?sv=1&amp;sig={secret}"
            f"</StatusUploadBlob></Extensions>").encode()


def status_file(secret: str) -> bytes:
    message = " | ".join(spellings(secret))
    return json.dumps([{"version": 1.0, "timestampUTC": "2024-01-31T10:05:00Z", "status": {
        "name": "Microsoft.Azure.Extensions.CustomScript", "operation": "Enable",
        "status": "error", "code": 1,
        "formattedMessage": {"lang": "en-US", "message": message},
        "substatus": [{"name": "StdErr", "status": "error", "code": 1,
                       "formattedMessage": {"lang": "en-US", "message": f"--password {secret}"}}],
    }}]).encode()


def waagent_conf(secret: str) -> bytes:
    return (f"HttpProxy.Host=http://user:{secret}@proxy.example.com\n"
            f"HttpProxy.Port=3128\nSomeService.Password={secret}\n"
            f'Db.Passphrase="{secret} two words"\nProvisioning.DeleteRootPassword=y\n'
            f"Extensions.Enabled=y\n").encode()


def vm_files(secret: str) -> dict[str, bytes]:
    ext = "Microsoft.Azure.Extensions.CustomScript-2.1.10"
    return {
        "var/log/waagent.log": waagent_log(secret),
        "var/lib/waagent/ExtensionsConfig.3.xml": extensions_config(secret),
        f"var/lib/waagent/{ext}/status/0.status": status_file(secret),
        "etc/waagent.conf": waagent_conf(secret),
        f"var/log/azure/custom/sig={secret}/extension.log":
            (LOG_HEAD.format(m=50, level="INFO") + "hello\n").encode(),
        f"var/log/azure/custom/api_key={secret}.log": b"x\n",
    }


def make_bundle(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1706695200
            tar.addfile(info, io.BytesIO(data))
    return path


def make_root(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (root / "proc").mkdir(parents=True, exist_ok=True)
    return root


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WAAGENT_ANALYZER_NO_CACHE": "1"}
    done = subprocess.run([sys.executable, "-m", "analyzer", *args], capture_output=True,
                          cwd=REPO, env=env, timeout=300, check=False)
    assert done.returncode in (0, 1), (args, done.stderr[-2000:])
    return done


def leaks(secret: str, data: bytes) -> bool:
    """The secret, raw or in the encodings an output may use (JSON escapes, HTML entities
    do not change these letters and digits; parquet stores UTF-8 strings as they are)."""
    return secret.encode() in data


TABLES = ("files", "records", "extensions", "goal_states", "agent", "config")


@pytest.mark.slow
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=TOKENS)
def test_no_planted_secret_in_any_output(tmp_path: Path, secret: str) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    files = vm_files(secret)
    bundle = make_bundle(work / "case.tgz", files)
    outputs: dict[str, bytes] = {}
    for fmt in ("text", "json", "markdown", "html"):
        done = run("analyze", str(bundle), "--format", fmt, "--fail-on", "never")
        outputs[f"analyze {fmt}"] = done.stdout + done.stderr
    for table in TABLES:
        for fmt in ("csv", "json", "parquet"):
            out = work / f"{table}.{fmt}"
            done = run("parse", str(bundle), "--table", table, "--format", fmt, "-o", str(out))
            outputs[f"parse {table} {fmt}"] = out.read_bytes() + done.stdout + done.stderr
    root = make_root(work / "root", files)
    for fmt in ("text", "json", "markdown", "html"):
        done = run("self-check", "--root", str(root), "--format", fmt, "--fail-on", "never")
        outputs[f"self-check {fmt}"] = done.stdout + done.stderr
    collected = work / "collected.tar.gz"
    done = run("collect", "--root", str(root), "--output", str(collected))
    outputs["collect"] = done.stdout + done.stderr + gzip.decompress(collected.read_bytes())
    inputs = work / "inputs"
    inputs.mkdir()
    shutil.copy(bundle, inputs / "case.tgz")
    results = work / "results"
    done = run("batch", str(inputs), "--out", str(results), "--workers", "1")
    batch_bytes = done.stdout + done.stderr
    for path in sorted(results.rglob("*")):
        if path.is_file():
            batch_bytes += path.read_bytes()
    outputs["batch"] = batch_bytes
    leaked = [name for name, data in outputs.items() if leaks(secret, data)]
    assert not leaked, leaked
    # The planted data was really read (a test that reads nothing proves nothing).
    assert b"CustomScript" in outputs["parse extensions json"]
    assert b"WARNING" in outputs["parse records csv"] or b"warning" in outputs["parse records csv"].lower()
