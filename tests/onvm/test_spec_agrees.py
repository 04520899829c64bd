"""The zipapp and the rule pack cannot disagree: its checks are generated from the pack, and
these tests fail if the generator, the on-VM evaluator, the on-VM redaction, the on-VM facts
or the shipped zipapp drift from the full tool."""

from __future__ import annotations

import itertools
import json
import random
import zipfile
from pathlib import Path

import pytest
from onvm_fakes import SECRETS, add_process, make_vm_root, write

from analyzer import redact as full_redact
from analyzer.engine.checks.table import TableCheck
from analyzer.engine.condition import parse_condition as engine_parse
from analyzer.engine.evaluate import evaluate_rules
from analyzer.engine.loader import default_rules_dir, load_rules
from analyzer.engine.matching import MatchStore
from analyzer.live.rows import file_rows as full_file_rows
from analyzer.live.rows import live_rows as full_live_rows
from analyzer.live.vm_state import LiveFacts, gather_live_facts
from analyzer.onvm import checks, facts, redact, rows
from analyzer.onvm.build import LIVE_SOURCE_KINDS, MAX_SIZE, build_spec, parse_condition, spec_bytes
from analyzer.parse.rows import ConfigRow
from analyzer.tables import BundleTables as BundleFacts

SPEC = build_spec()
PACK = load_rules([default_rules_dir()])
RULES = PACK.by_id()


def _is_live(check: object) -> bool:
    """A check on config rows the VM gives: live facts, and waagent.conf / lease rows."""
    return (
        isinstance(check, TableCheck)
        and check.table == "config"
        and check.where.get("source_kind", "").lower() in LIVE_SOURCE_KINDS
    )


def test_every_live_rule_of_the_pack_is_compiled_or_needs_logs() -> None:
    live_rules = {r.id for r in PACK.rules if any(_is_live(c) for c in r.checks.values())}
    compiled = {r["id"] for r in SPEC["rules"]}
    assert compiled | set(SPEC["rules_needing_logs"]) == live_rules
    assert {"WAA-RUN-004", "WAA-RES-004", "WAA-NET-006", "WAA-CONF-001", "WAA-CONF-002",
            "WAA-AGT-002", "WAA-DHCP-002"} <= compiled
    # No rule needs a live twin of a file-derived fact any more (issue #10).
    assert not any(c.where.get("key", "").startswith(("conf.", "dhcp."))
                   for r in PACK.rules for c in r.checks.values() if _is_live(c))
    # A rule left to `analyze` really cannot fire from live facts alone.
    for rule_id in SPEC["rules_needing_logs"]:
        rule = RULES[rule_id]
        live = [n for n, c in rule.checks.items() if _is_live(c)]
        for bits in itertools.product((False, True), repeat=len(live)):
            values = {n: False for n in rule.checks} | dict(zip(live, bits, strict=True))
            assert not rule.condition.evaluate(values), rule_id


@pytest.mark.parametrize("rule", SPEC["rules"], ids=lambda r: r["id"])
def test_condition_and_checks_match_the_engine(rule: dict) -> None:
    engine = RULES[rule["id"]]
    names = sorted(engine.checks)
    assert sorted([*rule["live_checks"], *rule["other_checks"]]) == names
    for bits in itertools.product((False, True), repeat=len(names)):
        values = dict(zip(names, bits, strict=True))
        assert checks.evaluate_condition(rule["condition"], values) == engine.condition.evaluate(
            values
        ), values
        assert checks.positive_names(rule["condition"], values) == (
            engine.condition.positive_names(values)
        )
    for name, check in rule["live_checks"].items():
        full = engine.checks[name]
        assert isinstance(full, TableCheck)
        assert check["where"] == {k: str(v) for k, v in full.where.items()}
        assert check.get("latest_by", "") == full.latest_by
        assert check.get("mode", "any") == full.mode
        if full.compare is None:
            assert "compare" not in check
        else:
            wanted = {"field": full.compare.field, "op": full.compare.op,
                      "value": full.compare.value, "type": full.compare.type}
            assert {"type": "string", **check["compare"]} == wanted
    assert rule["severity"] == engine.severity and rule["title"] == engine.title
    assert rule["message"] == engine.message and rule["params"] == engine.params
    assert rule["remediation"] == {k: v.strip() for k, v in engine.remediation.items()}
    assert rule["translations"] == engine.translations
    assert set(rule["translations"]["pt-BR"]) == {"title", "message"}


@pytest.mark.parametrize(
    "text",
    ["a or b and not c", "not (a or b) and c", "1 of probe_*", "all of x_*", "(a)"],
)
def test_condition_parser_matches_the_engine_grammar(text: str) -> None:
    names = ["a", "b", "c", "probe_1", "probe_2", "x_1", "x_2"]
    mine, theirs = parse_condition(text), engine_parse(text)
    for bits in itertools.product((False, True), repeat=len(names)):
        values = dict(zip(names, bits, strict=True))
        assert checks.evaluate_condition(mine, values) == theirs.evaluate(values)


# Row values the live rules look at, including near-threshold numbers and odd cases.
_VALUES = {
    "agent.running": ["true", "false"],
    "agent.daemon_running": ["true", "false"],
    "agent.exthandler_running": ["true", "false"],
    "agent.service_active": ["true", "false", "unknown"],
    "conf.found": ["true", "false"],
    "network.proxy": ["", "10.0.0.5:3128"],
    "dhcp.lease_files": ["0", "1", "3"],
    "cpu.busy_percent": ["12.0", "90.0", "90.1", "99.9", None],
    "memory.available_percent": ["9.9", "10.0", "55.0", None],
    "disk.root_free_percent": ["4.9", "5.0", "40.0", None],
    "disk.root_free_bytes": ["1073741823", "1073741824", "50000000000", None],
    "disk.var_free_percent": ["1.0", "60.0", None],
    "disk.var_free_bytes": ["1000", "90000000000", None],
    "network.wireserver_80.status": ["ok", "refused", "timeout", "error", None],
    "network.wireserver_32526.status": ["ok", "timeout", None],
    "network.storage_443.status": ["ok", "error", None],
    "network.storage_8443.status": ["refused", None],
    "network.imds_80.status": ["timeout", None],
}


# waagent.conf settings (None: not written) and lease rows, as file_rows gives them.
_CONF_VALUES = {
    "Extensions.Enabled": ["y", "n", "N", "Y", None],
    "Logs.Verbose": ["y", "n", "yes", "", None],
    "AutoUpdate.Enabled": ["y", "n", None],
    "AutoUpdate.UpdateToLatestVersion": ["y", "n", "Y", "N", None],
    "HttpProxy.Host": ["proxy.corp", "None", "none", "", None],
}
_LEASES = [[], [("lease", "dhclient")], [("lease", "networkd"), ("option_245", "168.63.129.16")],
           [("lease", "dhclient"), ("lease", "dhclient"), ("option_245", "168.63.129.16")],
           [("lease", "wicked"), ("option_245", "invalid:a8:3f")]]


def _random_rows(rng: random.Random) -> list[dict]:
    out = []
    for key, choices in _VALUES.items():
        value = rng.choice(choices)
        if value is not None:
            out.append({"source_kind": "live", "key": key, "value": value,
                        "member": "self-check.json", "line": None})
    for key, choices in _CONF_VALUES.items():
        value = rng.choice(choices)
        if value is not None:
            out.append({"source_kind": "waagent_conf", "key": key, "value": value,
                        "member": "self-check.json", "line": rng.choice([None, 3])})
    for key, value in rng.choice(_LEASES):
        out.append({"source_kind": "dhcp_lease", "key": key, "value": value,
                    "member": "self-check.json", "line": None})
    return out


def test_evaluator_agrees_with_the_engine_on_random_live_tables() -> None:
    """2,000 random live tables, half in each language: the same rules fire, with the same
    titles and messages."""
    rng = random.Random(20261205)
    compiled = [RULES[r["id"]] for r in SPEC["rules"]]
    fired_somewhere: set[str] = set()
    for turn in range(2000):
        lang = ("en", "pt-BR")[turn % 2]
        table = _random_rows(rng)
        bundle = BundleFacts(source="self-check", config=[ConfigRow(**r) for r in table])
        outcomes = evaluate_rules(compiled, bundle, MatchStore(), lang)
        engine = {o.rule.id: (o.finding.title, o.finding.message)
                  for o in outcomes if o.finding is not None}
        mine = {v["rule"]: (v["title"], v["message"])
                for v in checks.evaluate(SPEC, table, lang, redact.redact_text)
                if v["status"] == checks.FAIL}
        assert mine == engine, table
        fired_somewhere |= set(mine)
    assert fired_somewhere == {r["id"] for r in SPEC["rules"]}


def test_cannot_check_when_the_facts_were_not_gathered() -> None:
    table = [{"source_kind": "live", "key": "agent.running", "value": "true",
              "member": "m", "line": None}]
    verdicts = {v["rule"]: v for v in checks.evaluate(SPEC, table)}
    assert verdicts["WAA-NET-006"]["status"] == checks.CANNOT
    assert verdicts["WAA-RES-004"]["status"] == checks.CANNOT
    assert verdicts["WAA-RUN-004"]["status"] == checks.PASS


def test_shipped_zipapp_holds_the_current_spec_and_stays_small(zipapp: Path) -> None:
    data = zipapp.read_bytes()
    assert len(data) < MAX_SIZE
    with zipfile.ZipFile(zipapp) as archive:
        assert archive.read("analyzer/onvm/spec.json") == spec_bytes(SPEC)
        names = archive.namelist()
    assert "analyzer/onvm/build.py" not in names and "__main__.py" in names
    # Deterministic: building again gives the same bytes.
    from analyzer.onvm.build import zipapp_bytes

    assert zipapp_bytes() == data


def test_zipapp_modules_import_only_the_standard_library(zipapp: Path) -> None:
    import ast
    import sys

    with zipfile.ZipFile(zipapp) as archive:
        for name in archive.namelist():
            if not name.endswith(".py"):
                continue
            tree = ast.parse(archive.read(name))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""] if node.level == 0 else []
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    assert top in sys.stdlib_module_names or module in (
                        "analyzer", "analyzer.onvm", "analyzer.safe_open",
                    ) or module.startswith("analyzer.onvm."), f"{name}: {module}"


# -- redaction, rows and facts match the full tool ------------------------------------------

_SAS = "https://md-hdd.z11.blob.storage.azure.net/$system/vm.status?sv=2018-03-28&sr=b&sig={}&se=2099"
REDACTION_CORPUS = [
    "PUT " + _SAS.format("AbC%3D") + " done",
    '{"protectedSettings": "MIIBsAYJKoZIhvcN", "publicSettings": {}}',
    "<UserPassword>hunter2</UserPassword>",
    "nothing to see",
    "admin password=LogLinePassw0rd set",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----\ncut here",
    "Authorization: Bearer eyJhbGciOi.xyz",
    "authorization=SharedKey acct:sig",
    "proxy http://user:pa55@proxy.corp:3128/",
    'settings {\\"blobSASUri\\": \\"https://x/y?sv=1&sig=abc\\"}',
    "{'sasToken': 'abc', 'n': 1}",
    "https://example.com/a?sig=zzz&x=1 and signature=abc",
    "AccountKey=abcd==;EndpointSuffix=core.windows.net",
    *(f"secret {value}" for value in SECRETS.values()),
]


def test_redaction_matches_the_full_tool() -> None:
    for text in REDACTION_CORPUS:
        assert redact.redact_text(text) == full_redact.redact_text(text), text
    obj = {"a": [{"blobSASUri": ["https://x/y?sig=1"]}], "adminPassword": "x", "n": 1,
           "protectedSettingsCertThumbprint": "F6AB", "msg": "GET " + _SAS.format("Q1")}
    assert redact.redact_obj(obj) == full_redact.redact_obj(obj)


def _fake_vm(tmp_path: Path) -> Path:
    root = tmp_path / "vm"
    (root / "var/lib/dhcp").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/shadow").write_text("x")
    make_vm_root(root, 3128)
    add_process(root / "proc", 1040, ["python3", "-u", "bin/WALinuxAgent-2.9.1.1-py3.8.egg",
                                      "-run-exthandlers"], exe="/usr/bin/python3.10")
    write(root, "var/lib/dhcp/dhclient.eth0.leases", "lease {\n  option unknown-245 a8:3f:81:10;\n}\n")
    write(root, "usr/lib/python3/dist-packages/azurelinuxagent/common/version.py",
          "AGENT_VERSION = '2.2.53'\n")
    return root


def test_facts_and_rows_match_the_full_tool(tmp_path: Path) -> None:
    root = _fake_vm(tmp_path)
    mine = facts.gather(str(root), sample_seconds=0)
    full = gather_live_facts(root, sample_seconds=0, systemctl=None)
    # The zipapp's self-check.json is read by the full tool like its own.
    as_full = LiveFacts.from_json(json.dumps(mine))
    full_rows = [(r.key, r.value, r.line) for r in full_live_rows(full, "self-check.json")]
    my_rows = [(r["key"], r["value"], r["line"]) for r in rows.live_rows(mine)]
    assert my_rows == [(r.key, r.value, r.line) for r in full_live_rows(as_full, "self-check.json")]
    # Disk sizes are read twice (they move): compare everything else.
    moving = {"disk.root_free_bytes", "disk.var_free_bytes", "disk.root_free_percent",
              "disk.var_free_percent"}
    assert [r for r in my_rows if r[0] not in moving] == [r for r in full_rows if r[0] not in moving]
    my_files = [(r["source_kind"], r["key"], r["value"], r["line"]) for r in rows.file_rows(mine)]
    assert my_files == [(r.source_kind, r.key, r.value, r.line)
                        for r in full_file_rows(as_full, "self-check.json")]
    assert my_files == [(r.source_kind, r.key, r.value, r.line)
                        for r in full_file_rows(full, "self-check.json")]
    assert ("dhcp_lease", "option_245", "168.63.129.16", None) in my_files
    by_key = {k: v for k, v, _ in my_rows}
    assert by_key["agent.exthandler_version"] == "2.9.1.1"
    assert by_key["agent.installed_version"] == "2.2.53"
    assert by_key["dhcp.option_245"] == "168.63.129.16"
    assert by_key["python.version"] == "3.10"


def test_bundle_matches_the_full_tools_collect(secret_root: Path, tmp_path: Path) -> None:
    """Same members, same redacted bytes as `waagent-analyzer collect` (the manifest, secret
    names and redaction are duplicated in 3.6 syntax until analyzer/live uses analyzer/onvm)."""
    import tarfile

    from analyzer.live.collect import collect as full_collect
    from analyzer.onvm.collect import collect as onvm_collect

    def members(bundle: Path) -> dict[str, bytes]:
        with tarfile.open(bundle, "r:gz") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar  # type: ignore[union-attr]
                    if m.name != "self-check.json"}

    (tmp_path / "full").mkdir()
    (tmp_path / "mine").mkdir()
    full = full_collect(secret_root, tmp_path / "full", since_days=None, self_check_json=b"{}",
                        now=1_750_000_000.0)
    mine = onvm_collect(str(secret_root), str(tmp_path / "mine"), None, b"{}",
                        now=1_750_000_000.0)
    full_members = members(tmp_path / "full/bundle.tar.gz")
    assert members(tmp_path / "mine/bundle.tar.gz") == full_members
    assert len(full_members) > 10
    assert [e.path for e in full.included] == [p for p, _ in mine["included"]]
    assert sorted(e.path for e in full.skipped) == sorted(p for p, _ in mine["skipped"])
