"""Remove secrets from text and parsed JSON before anything is stored in a row or a report.

Bundles carry SAS tokens (status blob, snapshot blobs, log upload URIs), encrypted
``protectedSettings``, provisioning passwords, private keys and custom data. Nothing of that is
ever needed to diagnose the agent, so every string that leaves a parser goes through
:func:`redact_text` (or :func:`redact_obj` for parsed JSON) first.

This runs on every evidence line, so each rule is guarded by cheap literal checks on the
lower-cased text and the regexes only run when one of their trigger words is present.
Stdlib only: imported by every layer.

>>> redact_text("PUT https://a.blob.core.windows.net/c/b.status?sv=2018&se=9999&sig=AbC%3D done")
'PUT https://a.blob.core.windows.net/c/b.status?<redacted> done'
>>> redact_obj({"protectedSettingsCertThumbprint": "F6AB", "protectedSettings": "MIIB..."})
{'protectedSettingsCertThumbprint': 'F6AB', 'protectedSettings': '<redacted>'}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

REDACTED = "<redacted>"

# --- URLs ---------------------------------------------------------------------------------

# scheme://host/path?query ; the query stops at whitespace, quotes, angle brackets and '#'.
# '<' is excluded so an already redacted "?<redacted>" is left alone (idempotence).
# Host and path are split at the first "/" so the engine never tries several splits
# (a long URL without "?" must stay linear: these regexes see attacker-written log lines).
_URL_WITH_QUERY = re.compile(
    r"(?i)\b(https?://([^\s\"'<>/?#]+)(?:/[^\s\"'<>?#]*)?\?)([^\s\"'<>#]*)"
)
# Storage-service hosts (public and sovereign clouds, the z<n>.blob.storage.azure.net form).
_STORAGE_HOST = re.compile(r"(?i)(\.core\.|\.storage\.azure\.net$|\.blob\.)")
# Query parameters that make a query a SAS token (signature, version, expiry, start, perms).
_SAS_PARAM = re.compile(r"(?i)(?:^|[&;?]|&amp;)(?:sig|sv|se|st|sp|skoid|sktid|ske)=")
_SIG_PARAM = re.compile(r"(?i)(?:^|[&;?]|&amp;)sig=")


def _redact_url_query(match: re.Match[str]) -> str:
    head, host, query = match.group(1), match.group(2), match.group(3)
    if not query:
        return match.group(0)
    if _SIG_PARAM.search(query) or (_STORAGE_HOST.search(host) and _SAS_PARAM.search(query)):
        return head + REDACTED
    return match.group(0)


def _redact_urls(s: str) -> str:
    return _URL_WITH_QUERY.sub(_redact_url_query, s)


# A bare signature outside a recognisable URL (e.g. a logged query string), also after an
# escaped or percent-encoded separator (``\u0026sig=`` in JSON, ``%26sig%3D`` in an encoded
# URL) and with an encoded ``=``.
_BARE_SIG = re.compile(
    r"(?i)(?:(?<![\w-])|(?<=\\u0026)|(?<=%26))(sig|signature)(=|%3D)(?!<redacted>)"
    r"(?:(?!%26|\\u0026)[^&\s\"'<>;,)\]\\])+"
)


def _redact_bare_sig(s: str) -> str:
    return _BARE_SIG.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", s)


# user:password@host in any URL (proxy settings, package mirrors).
_URL_CREDENTIALS = re.compile(
    r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,30}://)[^/\s@:\"'<>]{1,256}:[^/\s@\"'<>]{1,256}@"
)


# user:password@host without a scheme (``proxy.corp`` settings, ``git clone`` arguments): the
# host must have a dot, the user part no colon (``10:00:00@x`` is not a credential).
_BARE_CREDENTIALS = re.compile(
    r"(?<![\w.:/@%+-])[\w.+-]{1,64}:(?!<redacted>)[^\s@/:\"'<>]{1,256}@(?=[\w-]{1,63}\.[\w-])"
)


def _redact_url_credentials(s: str) -> str:
    s = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", s)
    return _BARE_CREDENTIALS.sub(f"{REDACTED}@", s)


# --- key/value forms ----------------------------------------------------------------------

# Bounded repetitions everywhere: an unbounded "[\w.-]*password[\w.-]*" backtracks
# quadratically over a long run of "passwordpassword..." (a crafted log line).
_SECRET_KEYS = (
    r"protected_?Settings|[\w.-]{0,40}pass(?:word|wd|phrase)[\w.-]{0,40}|[\w.-]{0,40}pwd"
    r"|[\w.-]{0,40}secret[\w.-]{0,40}|[\w.-]{0,40}token|blobSASUri|logsBlobUri|statusBlobUri"
    r"|customData|[\w.-]{0,40}accountKey|objectStr|sasUri|sasToken|privateKey|sig|signature"
    r"|[\w.-]{0,40}api[_-]?key|credentials?"
)
# A value that is only a yes/no switch or empty-ish says nothing secret
# (``Provisioning.DeleteRootPassword=y``): kept, whatever the key.
_SWITCH = r"(?:[yn]|yes|no|true|false|none|null|0|1)(?=[\s&;,\"'<>\\]|$)"
# "key": "value" (JSON), with escapes inside the value. A value cut short (a truncated line)
# is redacted to the end: the closing quote is optional at the end of the text.
_JSON_KV = re.compile(
    r'(?i)("(?:' + _SECRET_KEYS + r')"\s*:\s*")(?!' + _SWITCH + r')(?:[^"\\\n]|\\.)*+("|(?=\n)|$)'
)
# commandToExecute runs whatever the customer wrote (``mysql -p...``, a token in a curl
# header): kept only when it is one bare word, as the backup extension's ``snapshot``.
_COMMAND_KV = re.compile(
    r'(?i)((?:\\?"|\')?commandToExecute(?:\\?"|\')?\s*[:=]\s*(\\?"|\'))'
    r'(?![A-Za-z]{1,32}\2)(?!<redacted>)(?:(?!\2)[^\n])*+(\2|(?=\n)|$)'
)
# \"key\": \"value\" (JSON embedded in a JSON string, as in status files and log lines).
_ESCAPED_JSON_KV = re.compile(
    r'(?i)(\\"(?:' + _SECRET_KEYS + r')\\"\s*:\s*\\")(?:[^"\\\n]|\\[^"\n])*+(\\"|(?=\n)|$)'
)
# 'key': 'value' (Python dict repr, as the agent logs some settings).
_PY_KV = re.compile(r"(?i)('(?:" + _SECRET_KEYS + r")'\s*:\s*')(?:[^'\\\n]|\\.)*+('|(?=\n)|$)")
# key=value / key: value in free text, conf files and connection strings.
# The key is found by a bounded look-ahead, then consumed by one bounded run.
_PLAIN_KEY = (
    r"(?=[\w.-]{0,40}?(?:pass(?:word|wd|phrase)|secret|pwd|protected_?settings|api[_-]?key"
    r"|credentials?))[\w.-]{1,80}[ \t]*[=:][ \t]*"
    r"|(?=[\w.-]{0,40}?(?:token|accountKey|SharedAccessKey)[ \t]*=)[\w.-]{1,80}[ \t]*=[ \t]*"
)
_PLAIN_KV = re.compile(
    r"(?i)(?<![\w.-])(" + _PLAIN_KEY + r")(?![\"'\\]|<redacted>|" + _SWITCH + r")[^\s&;,\"'<>]+"
)
# The same with a quoted value: password="a b c" / secret='x' (to the end when cut short).
_PLAIN_QUOTED_KV = re.compile(
    r"(?i)(?<![\w.-])(" + _PLAIN_KEY + r")([\"'])(?!<redacted>|" + _SWITCH + r")"
    r"(?:(?!\2)[^\n])++(\2|(?=\n)|$)"
)
# Command-line secrets: ``--password X``, ``-p X`` after mysql, ``mysql -pX``.
_CLI_SECRET = re.compile(
    r"(?i)(?<![\w-])(--?(?:password|passwd|pwd|passphrase|secret|token|api-?key|client-secret)"
    r"(?:=|[ \t]+))(?!<redacted>|-)[^\s\"']+"
    r"|(\bmysql(?:dump|admin)?\b[^\n]{0,200}?[ \t]-p)(?!<redacted>)([^\s\"']+)"
)


def _cli_secret(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return f"{m.group(1)}{REDACTED}"
    return f"{m.group(2)}{REDACTED}"


def _redact_key_values(s: str) -> str:
    s = _JSON_KV.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", s)
    s = _ESCAPED_JSON_KV.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", s)
    s = _PY_KV.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", s)
    s = _PLAIN_QUOTED_KV.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(3)}", s)
    s = _PLAIN_KV.sub(lambda m: f"{m.group(1)}{REDACTED}", s)
    s = _COMMAND_KV.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", s)
    return _CLI_SECRET.sub(_cli_secret, s)


# Bare tokens: a JSON Web Token (three base64url parts, the first two JSON objects) and a
# storage account key (64 random bytes in base64: 86 characters and "==").
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,4096}\.eyJ[A-Za-z0-9_-]{4,8192}\.[A-Za-z0-9_-]{0,4096}")
_ACCOUNT_KEY = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])")


def _redact_bare_tokens(s: str) -> str:
    s = _JWT.sub(REDACTED, s)
    return _ACCOUNT_KEY.sub(REDACTED, s)


# <UserPassword>..</UserPassword>, RemoteAccess <Password>, ovf-env <ns1:CustomData>.
# Element text cannot contain a raw "<", so "[^<]*" finds the end without backtracking.
_XML_SECRET = re.compile(
    r"(?i)(<((?:[\w-]{1,40}:)?(?:UserPassword|Password|CustomData|ProtectedSettings))"
    r"(?:\s[^<>]*)?>)(?!<redacted>)[^<]*+(</\2\s*>|(?=<)|$)"
)


def _redact_xml_elements(s: str) -> str:
    return _XML_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", s)


# --- PEM, auth headers --------------------------------------------------------------------

_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,64})-----")


def _redact_pem(s: str) -> str:
    """Body of every PEM block; a BEGIN without its END (one log line, a cut file) loses
    everything after it. A scan with str.find, not a lazy ``.*?``: linear on any input."""
    out = []
    pos = 0
    while (begin := _PEM_BEGIN.search(s, pos)) is not None:
        out.append(s[pos : begin.end()])
        pos = begin.end()
        if s.startswith(REDACTED, pos):  # already redacted
            continue
        out.append(REDACTED)
        end_marker = f"-----END {begin.group(1)}-----"
        end = s.find(end_marker, pos)
        if end < 0:
            return "".join(out)
        pos = end
    out.append(s[pos:])
    return "".join(out)


_AUTH_HEADER = re.compile(
    r"(?i)\b(Authorization\s*[:=]\s*(?:(?:Basic|Bearer|SharedKey|SharedAccessSignature)\s+)?+)"
    r"(?!<redacted>)[^\s\"',]+"
)
_BEARER = re.compile(r"(?i)\b(Bearer\s+)(?!<redacted>)[A-Za-z0-9\-._~+/]+=*")


def _redact_auth(s: str) -> str:
    s = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", s)
    return _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", s)


# --- driver -------------------------------------------------------------------------------

# (lower-case trigger literals, step). A step runs only if one trigger occurs in the text.
_STEPS: tuple[tuple[tuple[str, ...], Callable[[str], str]], ...] = (
    (("-----begin",), _redact_pem),
    (("sig=", "sv=", "se=", "sp=", "skoid="), _redact_urls),
    (("sig=", "signature=", "sig%3d", "signature%3d"), _redact_bare_sig),
    (
        (
            "protectedsettings",
            "password",
            "passwd",
            "secret",
            "token",
            "bloburi",
            "customdata",
            "accountkey",
            "objectstr",
            "sasuri",
            "privatekey",
            "sharedaccesskey",
            "protected_settings",
            "pwd",
            "passphrase",
            "sig",
            "apikey",
            "api_key",
            "api-key",
            "credential",
            "commandtoexecute",
            # the only ``-p`` secret _CLI_SECRET knows follows mysql; a bare "-p" trigger
            # fired on every "-py3.8.egg" path of a traceback (~200 µs each instead of 3.5)
            "mysql",
        ),
        _redact_key_values,
    ),
    (("eyj", "=="), _redact_bare_tokens),
    (("password", "customdata", "protectedsettings"), _redact_xml_elements),
    (("authorization", "bearer"), _redact_auth),
    (("@",), _redact_url_credentials),
)
# Most evidence lines contain none of these, so one pass over them usually decides.
_ALL_TRIGGERS = tuple(dict.fromkeys(t for triggers, _ in _STEPS for t in triggers))


def _any_in(triggers: tuple[str, ...], low: str) -> bool:
    # A plain loop: measurably cheaper than any(<genexpr>) or a regex alternation here.
    for trigger in triggers:  # noqa: SIM110
        if trigger in low:
            return True
    return False


def redact_text(s: str) -> str:
    """Return ``s`` with secrets replaced by ``<redacted>``; idempotent.

    >>> redact_text('{"protectedSettings": "MIIBsAYJKoZIhvcN", "publicSettings": {}}')
    '{"protectedSettings": "<redacted>", "publicSettings": {}}'
    >>> redact_text("<UserPassword>hunter2</UserPassword>")
    '<UserPassword><redacted></UserPassword>'
    >>> redact_text("nothing to see")
    'nothing to see'
    """
    if not s:
        return s
    low = s.lower()
    if not _any_in(_ALL_TRIGGERS, low):
        return s
    for triggers, step in _STEPS:
        if _any_in(triggers, low):
            s = step(s)
    return s


# Keys whose values are secret wherever they appear in parsed JSON. The certificate
# *thumbprint* is not secret and stays (it tells which tenant certificate is needed).
_SECRET_KEY = re.compile(
    r"(?i)^(?:protectedsettings|blobsasuri|logsbloburi|statusbloburi|objectstr|customdata"
    r"|sas|sig|signature)$"
    r"|pass(?:word|wd|phrase)|secret|token|accountkey|privatekey|credential|pwd"
    r"|api_?key|^key$|[a-z]key$|_key$|^protected_settings$|^commandtoexecute$"
    r"|^sas|sas(?:uri|url|token|key)|^sig|sig$|signature$"
)


def is_secret_key(key: str) -> bool:
    """True when the value of JSON key ``key`` must never be copied.

    >>> [is_secret_key(k) for k in ("protectedSettings", "protectedSettingsCertThumbprint",
    ...                             "adminPassword", "snapshotTaskToken", "taskId")]
    [True, False, True, True, False]
    """
    return bool(_SECRET_KEY.search(key))


_BARE_WORD = re.compile(r"[A-Za-z]{1,32}")


def _mask_setting(key: str, value: Any) -> Any:
    """The structural rule for one JSON setting: secret keys lose their value, and
    ``commandToExecute`` keeps only a bare verb (``snapshot``)."""
    if key.lower() == "commandtoexecute":
        if isinstance(value, str) and _BARE_WORD.fullmatch(value):
            return value
        return _mask(value)
    if isinstance(value, str) and re.fullmatch(r"(?i)[yn]|yes|no|true|false", value):
        return value  # a switch (Provisioning.DeleteRootPassword: "y") is no secret
    return _mask(value)


def redact_obj(obj: Any) -> Any:
    """Return a copy of parsed JSON with secret values replaced and all strings redacted.

    Values of secret keys become ``"<redacted>"`` whatever their type (``None`` and ``""``
    stay, they carry no secret and show that the setting was empty).

    >>> redact_obj({"a": [{"blobSASUri": ["https://x/y?sig=1"]}], "n": 1})
    {'a': [{'blobSASUri': '<redacted>'}], 'n': 1}
    """
    if isinstance(obj, dict):
        return {
            k: (_mask_setting(k, v) if isinstance(k, str) and is_secret_key(k) else redact_obj(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def _mask(value: Any) -> Any:
    if value is None or value == "":
        return value
    return REDACTED
