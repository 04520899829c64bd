"""Secret removal on the VM (Python 3.6+), driven by the patterns of ``analyzer/redact.py``.

The patterns and the order of the steps with their trigger words are copied into
``spec.json`` at build time (``analyzer.onvm.build.build_redaction``); this module only holds
how each step substitutes (which groups are kept around ``<redacted>``), keyed by the name of
the step function in ``analyzer/redact.py``. A test feeds both implementations the same
secrets and requires the same output.
"""

import re
from typing import Any  # noqa: F401  (type comments)

PATTERNS_USED = (
    "_PEM_BEGIN", "_URL_WITH_QUERY", "_STORAGE_HOST", "_SAS_PARAM", "_SIG_PARAM", "_BARE_SIG",
    "_URL_CREDENTIALS", "_BARE_CREDENTIALS", "_JSON_KV", "_ESCAPED_JSON_KV", "_PY_KV",
    "_PLAIN_QUOTED_KV", "_PLAIN_KV", "_COMMAND_KV", "_CLI_SECRET", "_JWT", "_ACCOUNT_KEY",
    "_XML_SECRET", "_AUTH_HEADER", "_BEARER", "_SECRET_KEY",
)

_state = {}  # type: dict


def _spec():
    # type: () -> dict
    if not _state:
        from analyzer.onvm.checks import load_spec

        configure(load_spec()["redaction"])
    return _state


def configure(redaction):
    # type: (dict) -> None
    """Compile the generated patterns (called once, lazily)."""
    _state.clear()
    _state["R"] = redaction["redacted"]
    _state["re"] = dict((name, re.compile(p)) for name, p in redaction["patterns"].items())
    _state["steps"] = [(tuple(triggers), name) for triggers, name in redaction["steps"]]
    _state["all"] = tuple(sorted(set(t for triggers, _ in _state["steps"] for t in triggers)))


def _pem(s, p, r):
    # type: (str, dict, str) -> str
    out = []
    pos = 0
    while True:
        begin = p["_PEM_BEGIN"].search(s, pos)
        if begin is None:
            break
        out.append(s[pos:begin.end()])
        pos = begin.end()
        if s.startswith(r, pos):
            continue
        out.append(r)
        end = s.find("-----END %s-----" % begin.group(1), pos)
        if end < 0:
            return "".join(out)
        pos = end
    out.append(s[pos:])
    return "".join(out)


def _urls(s, p, r):
    # type: (str, dict, str) -> str
    def one(match):
        # type: (Any) -> str
        head, host, query = match.group(1), match.group(2), match.group(3)  # type: ignore
        if not query:
            return match.group(0)  # type: ignore
        if p["_SIG_PARAM"].search(query) or (
                p["_STORAGE_HOST"].search(host) and p["_SAS_PARAM"].search(query)):
            return head + r
        return match.group(0)  # type: ignore

    return p["_URL_WITH_QUERY"].sub(one, s)


def _bare_sig(s, p, r):
    # type: (str, dict, str) -> str
    return p["_BARE_SIG"].sub(lambda m: m.group(1) + m.group(2) + r, s)


def _url_credentials(s, p, r):
    # type: (str, dict, str) -> str
    s = p["_URL_CREDENTIALS"].sub(lambda m: m.group(1) + r + "@", s)
    return p["_BARE_CREDENTIALS"].sub(r + "@", s)


def _cli_secret(m, r):
    # type: (Any, str) -> str
    if m.group(1) is not None:
        return m.group(1) + r
    return m.group(2) + r


def _key_values(s, p, r):
    # type: (str, dict, str) -> str
    for name in ("_JSON_KV", "_ESCAPED_JSON_KV", "_PY_KV"):
        s = p[name].sub(lambda m: m.group(1) + r + m.group(2), s)
    s = p["_PLAIN_QUOTED_KV"].sub(lambda m: m.group(1) + m.group(2) + r + m.group(3), s)
    s = p["_PLAIN_KV"].sub(lambda m: m.group(1) + r, s)
    s = p["_COMMAND_KV"].sub(lambda m: m.group(1) + r + m.group(3), s)
    return p["_CLI_SECRET"].sub(lambda m: _cli_secret(m, r), s)


def _bare_tokens(s, p, r):
    # type: (str, dict, str) -> str
    s = p["_JWT"].sub(r, s)
    return p["_ACCOUNT_KEY"].sub(r, s)


def _xml(s, p, r):
    # type: (str, dict, str) -> str
    return p["_XML_SECRET"].sub(lambda m: m.group(1) + r + m.group(3), s)


def _auth(s, p, r):
    # type: (str, dict, str) -> str
    s = p["_AUTH_HEADER"].sub(lambda m: m.group(1) + r, s)
    return p["_BEARER"].sub(lambda m: m.group(1) + r, s)


STEP_HANDLERS = {
    "_redact_pem": _pem,
    "_redact_urls": _urls,
    "_redact_bare_sig": _bare_sig,
    "_redact_key_values": _key_values,
    "_redact_xml_elements": _xml,
    "_redact_auth": _auth,
    "_redact_url_credentials": _url_credentials,
    "_redact_bare_tokens": _bare_tokens,
}


def redact_text(s):
    # type: (str) -> str
    """``s`` with secrets replaced by ``<redacted>`` (idempotent), like analyzer.redact."""
    if not s:
        return s
    state = _spec()
    low = s.lower()
    if not any(t in low for t in state["all"]):
        return s
    for triggers, name in state["steps"]:
        if any(t in low for t in triggers):
            s = STEP_HANDLERS[name](s, state["re"], state["R"])
    return s


def is_secret_key(key):
    # type: (str) -> bool
    return bool(_spec()["re"]["_SECRET_KEY"].search(key))


def redact_obj(obj):
    # type: (Any) -> Any
    """A copy of parsed JSON with secret values replaced and every string redacted."""
    if isinstance(obj, dict):
        return dict((k, _mask_setting(k, v) if isinstance(k, str) and is_secret_key(k)
                     else redact_obj(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


_BARE_WORD = re.compile(r"[A-Za-z]{1,32}\Z")
_SWITCH = re.compile(r"(?i)(?:[yn]|yes|no|true|false)\Z")


def _mask_setting(key, value):
    # type: (str, Any) -> Any
    """Secret keys lose their value; ``commandToExecute`` keeps only a bare verb and a yes/no
    switch (``DeleteRootPassword: "y"``) is no secret (as in analyzer/redact.py)."""
    if key.lower() == "commandtoexecute":
        if isinstance(value, str) and _BARE_WORD.match(value):
            return value
        return _mask(value)
    if isinstance(value, str) and _SWITCH.match(value):
        return value
    return _mask(value)


def _mask(value):
    # type: (Any) -> Any
    if value is None or value == "":
        return value
    return _spec()["R"]
