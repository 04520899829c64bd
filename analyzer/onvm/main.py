"""Command line of the on-VM self-check (Python 3.6+, stdlib only, Linux).

    sudo python3 waagent-selfcheck.pyz [--network] [--output bundle.tar.gz] [--lang pt-BR]

Prints PASS / FAIL / CANNOT CHECK for every live check of the rule pack, with the fix; with
``--network`` probes WireServer (80, 32526), IMDS and storage (through the configured proxy);
with ``--output`` writes the redacted bundle (``self-check.json`` inside) for support and for
``waagent-analyzer analyze``. Nothing else is written, nothing on the VM is changed.

Exit codes: 0 no FAIL at or above --fail-on, 1 FAIL, 2 usage error, 3 nothing checkable
(root unreadable), 4 internal error.
"""

import argparse
import json
import os
import platform
import sys
import traceback
from typing import Any  # noqa: F401  (type comments)

from analyzer.onvm import checks, facts, probes, redact, texts
from analyzer.onvm.rows import file_rows, live_rows

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_NOTHING, EXIT_INTERNAL = 0, 1, 2, 3, 4
SEVERITIES = checks.SEVERITY_ORDER


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # type: ignore
        raise UsageError(message)


def _parser():
    # type: () -> argparse.ArgumentParser
    parser = _Parser(prog="waagent-selfcheck.pyz", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="/", help="root of the VM's filesystem (default /)")
    parser.add_argument("--network", action="store_true",
                        help="probe WireServer 80/32526, IMDS and storage (opt-in)")
    parser.add_argument("--target", action="append", default=[], metavar="NAME=HOST:PORT",
                        help="probe this instead of the default targets (repeatable; names "
                             "starting with 'storage' go through the proxy)")
    parser.add_argument("--proxy", metavar="HOST:PORT",
                        help="HTTP proxy for storage probes (default: waagent.conf, then "
                             "https_proxy/http_proxy)")
    parser.add_argument("--probe-timeout", type=float, default=3.0, metavar="SECONDS")
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="write the redacted bundle here (a .tar.gz path or a directory)")
    parser.add_argument("--since", type=int, metavar="DAYS",
                        help="bundle: only rotated logs of the last DAYS days")
    parser.add_argument("--format", "-f", default="text", choices=("text", "json"))
    parser.add_argument("--lang", default=None, help="en or pt-BR (default: from LANG)")
    parser.add_argument("--fail-on", default="high", choices=SEVERITIES,
                        help="exit 1 when a check at or above this severity fails")
    parser.add_argument("--cpu-sample", type=float, default=0.5, metavar="SECONDS",
                        help="CPU sampling interval (0 = do not measure)")
    return parser


def _lang(value):
    # type: (Any) -> str
    if value is None:
        env = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or \
            os.environ.get("LANG") or ""
        return "pt-BR" if env.lower().startswith("pt") else "en"
    if str(value).lower() in ("pt-br", "pt_br", "pt"):
        return "pt-BR"
    if str(value).lower() in ("en", "en-us", "en_us"):
        return "en"
    raise UsageError("--lang %r: valid options: en, pt-BR" % (value,))


def _target(value):
    # type: (str) -> dict
    name, sep, address = value.partition("=")
    parsed = probes.parse_host_port(address) if sep else None
    if not name or parsed is None or not all(c.isalnum() or c == "_" for c in name):
        raise UsageError("--target %r: expected NAME=HOST:PORT (NAME of letters, digits, _)"
                         % (value,))
    return probes.target(name, parsed[0], parsed[1], use_proxy=name.startswith("storage"))


def _check_output(path):
    # type: (str) -> None
    parent = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise UsageError("--output %s: folder does not exist or is not writable" % path)
    from analyzer.onvm.collect import archive_format

    try:
        archive_format(path)  # .tar.gz, .tgz or .zip (or a folder), as the full tool's collect
    except ValueError as exc:
        raise UsageError("--output %s" % exc) from None


def sanitize(text):
    # type: (Any) -> str
    """Control, bidi and invisible characters of VM strings shown as escapes, never sent."""
    out = []
    for char in str(text):
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif (code < 0x20 and char != "\n") or code == 0x7F or 0x80 <= code <= 0x9F:
            out.append("\\x%02x" % code)
        elif 0xD800 <= code <= 0xDFFF or code in (0x061C, 0xFEFF) or 0x200B <= code <= 0x200F \
                or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
            out.append("\\u%04x" % code)
        else:
            out.append(char)
    return "".join(out)


def run(args):
    # type: (argparse.Namespace) -> int
    lang = _lang(args.lang)
    root = args.root
    if not os.path.isdir(root):
        raise UsageError("--root %s: not a directory" % root)
    targets = [_target(v) for v in args.target] or None
    proxy = None
    if args.proxy:
        proxy = probes.parse_host_port(args.proxy)
        if proxy is None:
            raise UsageError("--proxy %r: expected HOST:PORT" % args.proxy)
    if args.probe_timeout <= 0 or args.probe_timeout > 60:
        raise UsageError("--probe-timeout: between 0 and 60 seconds")
    if args.since is not None and args.since < 0:
        raise UsageError("--since must be a positive number of days")
    if args.output:
        _check_output(args.output)
    try:
        os.listdir(root)
    except OSError as exc:
        sys.stderr.write("cannot read --root %s: %s\n" % (root, facts.reason(exc)))
        return EXIT_NOTHING

    spec = checks.load_spec()
    redact.configure(spec["redaction"])
    live = facts.gather(root, sample_seconds=args.cpu_sample)
    if args.network:
        _probe(live, root, targets, proxy, args.probe_timeout)
    rows = live_rows(live) + file_rows(live)
    verdicts = checks.evaluate(spec, rows, lang, redact=redact.redact_text)
    live["self_check"] = {"tool": "waagent-selfcheck", "version": spec["version"],
                          "python": platform.python_version(), "verdicts": verdicts}
    document = json.dumps(live, indent=2, sort_keys=True, ensure_ascii=True).encode("ascii")
    summary = None
    if args.output:
        from analyzer.onvm.collect import collect

        summary = collect(root, args.output, args.since, document)
    if args.format == "json":
        write_out(json.dumps({"verdicts": verdicts, "facts": redact.redact_obj(live),
                              "bundle": summary}, indent=2, sort_keys=True) + "\n")
    else:
        write_out(render_text(spec, live, verdicts, summary, lang))
    threshold = SEVERITIES.index(args.fail_on)
    failed = [v for v in verdicts
              if v["status"] == checks.FAIL and SEVERITIES.index(v["severity"]) >= threshold]
    return EXIT_FINDINGS if failed else EXIT_OK


def write_out(text):
    # type: (str) -> None
    """UTF-8 whatever the locale: Python 3.6 under LANG=C (or an uninstalled pt_BR locale)
    would otherwise fail on the first accented letter of a Portuguese fix."""
    encoding = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "")
    buffer = getattr(sys.stdout, "buffer", None)
    if encoding == "utf8" or buffer is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8", "backslashreplace"))
    buffer.flush()


def _probe(live, root, targets, proxy, timeout):
    # type: (dict, str, Any, Any, float) -> None
    targets, proxy, shown = probes.plan(root, live["conf"], dict(os.environ), targets, proxy)
    if shown:
        live["proxy"] = shown
    live["network"] = probes.probe_targets(targets, proxy, timeout)
    live["network_probed"] = True


def render_text(spec, live, verdicts, summary, lang):
    # type: (dict, dict, list, Any, str) -> str
    lines = [texts.t("heading", lang, root=sanitize(live["root"]),
                     python=platform.python_version(), version=spec["version"]), "",
             texts.t("checks", lang)]
    order = {checks.FAIL: 0, checks.CANNOT: 1, checks.PASS: 2}
    ranked = sorted(verdicts, key=lambda v: (order[v["status"]],
                                             -SEVERITIES.index(v["severity"]), v["rule"]))
    for verdict in ranked:
        lines.append("  %-12s %-12s %-8s %s" % (verdict["status"], verdict["rule"],
                                                verdict["severity"], verdict["title"]))
        if verdict["status"] == checks.FAIL:
            lines.append("      " + sanitize(verdict["message"]))
            lines.append("      %s:" % texts.t("fix", lang))
            lines.extend("        " + line for line in verdict["remediation"].splitlines())
        elif verdict["status"] == checks.CANNOT:
            missing = verdict.get("missing", [])
            if missing and all(_key_text(k).startswith("network") for k in missing):
                reason = texts.t("cannot.network", lang)
            else:
                reason = texts.t("cannot.missing", lang, keys=", ".join(missing))
            lines.append("      " + sanitize(reason))
    lines.append("")
    unknown = texts.t("unknown", lang)
    versions = live.get("versions", {})
    lines.append(sanitize(texts.t(
        "versions", lang, installed=live["installed_version"] or unknown,
        status=versions.get("goal_state_agent") or unknown,
        agents=", ".join(versions.get("agents", [])) or unknown)))
    lines.extend(sanitize(texts.t("extension", lang, name=e["name"], version=e["version"],
                                  state=e["state"] or unknown))
                 for e in versions.get("extensions", []))
    if live["network_probed"]:
        lines.append(texts.t("network", lang))
        for result in live["network"]:
            endpoint = "%s:%s" % (result["host"], result["port"])
            if result["status"] == "ok":
                text = texts.t("probe.ok", lang, endpoint=endpoint,
                               elapsed="%.0f" % result["elapsed_ms"])
            else:
                text = texts.t("probe.failed", lang, endpoint=endpoint, status=result["status"],
                               error=result["error"])
            if result["via_proxy"]:
                text += " " + texts.t("via_proxy", lang, proxy=result["via_proxy"])
            status = "PASS" if result["status"] == "ok" else "FAIL"
            lines.append("  %-12s %-18s %s" % (status, result["name"], sanitize(text)))
    else:
        lines.append(texts.t("no_network", lang))
    if live["unreadable"]:
        lines.append(texts.t("unreadable", lang))
        lines.extend("  %s: %s" % (sanitize(p), sanitize(r)) for p, r in live["unreadable"][:30])
    if spec["rules_needing_logs"]:
        lines.append(texts.t("logs_rules", lang, count=len(spec["rules_needing_logs"])))
    counts = dict((s, sum(1 for v in verdicts if v["status"] == s))
                  for s in (checks.FAIL, checks.PASS, checks.CANNOT))
    lines.append("")
    lines.append(texts.t("summary", lang, fail=counts[checks.FAIL], passed=counts[checks.PASS],
                         cannot=counts[checks.CANNOT]))
    if summary is not None:
        lines.append(texts.t("bundle", lang, path=sanitize(summary["output"]),
                             files=len(summary["included"]), bytes=summary["total_bytes"],
                             redacted=len(summary["redacted"]), skipped=len(summary["skipped"])))
        if summary["skipped"]:
            lines.append(texts.t("left_out", lang))
            lines.extend("  %s - %s" % (sanitize(p), sanitize(r))
                         for p, r in summary["skipped"][:50])
    else:
        lines.append(texts.t("no_bundle", lang))
    return "\n".join(lines) + "\n"


def _key_text(key):
    # type: (str) -> str
    """``network.x`` from a where value such as ``~(?i)^network\\.x``."""
    key = key.lstrip("!~")
    if key.startswith("(?i)"):
        key = key[4:]
    return key.lstrip("^")


def main(argv=None):
    # type: (Any) -> int
    if not sys.platform.startswith("linux"):
        sys.stderr.write("waagent-selfcheck runs on Linux VMs only.\n")
        return EXIT_USAGE
    try:
        args = _parser().parse_args(argv)  # type: ignore
        return run(args)
    except UsageError as exc:
        sys.stderr.write("usage error: %s\n" % exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except Exception:
        sys.stderr.write("internal error (please report it):\n" + traceback.format_exc())
        return EXIT_INTERNAL
