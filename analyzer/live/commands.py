"""Plain functions behind the ``self-check`` and ``collect`` CLI commands.

The CLI (typer) only parses options and prints; everything it needs is here so it can be
tested without a terminal. Strings read from the VM (file names, errors) are escaped with
``sanitize`` before they are put into any text meant for a terminal.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from analyzer.live.collect import CollectSummary, collect
from analyzer.live.probes import (
    Proxy,
    Target,
    plain_target,
    probe_targets,
    proxy_pair,
    typed_target,
)
from analyzer.live.rows import live_rows
from analyzer.live.vm_state import LiveFacts, SystemctlRunner, gather_live_facts
from analyzer.onvm import facts as onvm_facts
from analyzer.onvm import probes as onvm_probes
from analyzer.parse.rows import ConfigRow
from analyzer.redact import redact_text

SELF_CHECK_MEMBER = "self-check.json"
DEFAULT_PROBE_TIMEOUT = 3.0

def self_check_inputs(
    root: Path,
    network: bool,
    targets_override: list[Target] | None = None,
    proxy_override: Proxy | None = None,
    *,
    storage_host: str | None = None,
    managed_disks: bool | None = None,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    sample_seconds: float = 0.5,
    systemctl: SystemctlRunner | None = None,
    environ: Mapping[str, str] | None = None,
) -> LiveFacts:
    """Gather live facts and, when ``network`` is true, probe the endpoints.

    Targets are ``targets_override`` or the defaults for the storage host of the current goal
    state (``storage_host`` or discovered under ``root``). The proxy for storage targets is
    ``proxy_override``, else ``HttpProxy.Host/Port`` from waagent.conf, else
    ``https_proxy``/``http_proxy`` from ``environ`` (default: this process's environment).
    """
    facts = gather_live_facts(root, sample_seconds=sample_seconds, systemctl=systemctl)
    if not network:
        return facts
    given = None if targets_override is None else [plain_target(t) for t in targets_override]
    chosen, pair, facts.proxy = onvm_probes.plan(
        str(root), facts.conf, os.environ if environ is None else environ, given,
        proxy_pair(proxy_override), storage_host, managed_disks,
    )
    targets = targets_override if targets_override is not None else [
        typed_target(t) for t in chosen
    ]
    proxy = None if pair is None else Proxy(*pair)
    facts.network = probe_targets(targets, proxy, timeout)
    facts.network_probed = True
    return facts


def self_check_rows(facts: LiveFacts, member: str = SELF_CHECK_MEMBER) -> list[ConfigRow]:
    return live_rows(facts, member)


def collect_bundle(
    root: Path,
    output: Path,
    *,
    since_days: int | None = None,
    network: bool = False,
    sample_seconds: float = 0.5,
    systemctl: SystemctlRunner | None = None,
) -> tuple[CollectSummary, LiveFacts]:
    """Self-check (network probes only when asked) and then collect, with the facts inside."""
    facts = self_check_inputs(root, network, sample_seconds=sample_seconds, systemctl=systemctl)
    summary = collect(
        root, output, since_days=since_days, self_check_json=facts.to_json().encode("utf-8")
    )
    return summary, facts


# -- discovery --------------------------------------------------------------------------------


def discover_storage_host(root: Path) -> str | None:
    """Blob host of the current goal state: the status upload blob, else an extension location
    (``onvm/probes.discover_storage_host``, read through ``safe_open``).

    Looks at the newest ``ExtensionsConfig.<n>.xml`` (agents up to 2.7), then at the newest
    unzipped goal-state history folder (2.8+), then at ``VmSettings`` JSON. Only the host
    name is returned; the SAS token of those URLs is never kept.
    """
    host: str | None = onvm_probes.discover_storage_host(onvm_facts.Reader(str(root)))
    return host


def proxy_from_settings(conf: Mapping[str, str], environ: Mapping[str, str]) -> Proxy | None:
    """The proxy the agent would use for storage: waagent.conf first, then the environment."""
    return _proxy(onvm_probes.proxy_from_settings(conf, environ))


def parse_proxy_url(value: str) -> Proxy | None:
    """``http://[user:pass@]host:port`` or ``host:port`` to a Proxy (credentials dropped)."""
    return _proxy(onvm_probes.proxy_from_settings({}, {"https_proxy": value}))


def _proxy(pair: tuple[str, int] | None) -> Proxy | None:
    return None if pair is None else Proxy(pair[0], pair[1])


# -- text output ------------------------------------------------------------------------------

_BIDI_AND_INVISIBLE = {0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0xFEFF}


def sanitize(text: str) -> str:
    """Escape control, bidi/invisible and surrogate characters so a name cannot drive the
    terminal or hide itself (``\\x1b``, ``\\u202e``, ``\\udcff`` stay visible as escapes)."""
    out = []
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF or code in _BIDI_AND_INVISIBLE:
            out.append(f"\\u{code:04x}")
        elif unicodedata.category(char) == "Cf":
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def format_collect_summary(summary: CollectSummary) -> str:
    """What went into the bundle, what was redacted and what was left out (and why)."""
    lines = [f"Bundle: {sanitize(str(summary.output))} ({summary.total_bytes} bytes uncompressed)"]
    sections = (
        ("Included", summary.included),
        ("Redacted", summary.redacted),
        ("Left out", summary.skipped),
    )
    for title, entries in sections:
        lines.append(f"{title} ({len(entries)}):")
        if not entries:
            lines.append("  (none)")
        for entry in entries:
            path, detail = redact_text(entry.path), redact_text(entry.detail)
            lines.append(f"  {sanitize(path)}  - {sanitize(detail)}")
    return "\n".join(lines) + "\n"


def format_self_check(facts: LiveFacts) -> str:
    """Short human summary of the live rows (the rule findings are printed by the CLI)."""
    lines = [f"{row.key} = {sanitize(row.value)}" for row in self_check_rows(facts)]
    if facts.unreadable:
        lines.append("Could not read:")
        lines += [f"  {sanitize(path)}: {sanitize(reason)}" for path, reason in facts.unreadable]
    return "\n".join(lines) + "\n"
