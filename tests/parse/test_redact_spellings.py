"""#11 item 6: every spelling of a secret the redactor let through, and item 5: a secret whose
closing delimiter was cut off. Each case failed before the fix; yes/no switches stay."""

from __future__ import annotations

import pytest

from analyzer.redact import REDACTED, redact_obj, redact_text

SECRET = "Zq9SECRETvalue7"
ACCOUNT_KEY = "Zq9S" + "A" * 82 + "=="
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ" + SECRET + "In0.c2lnbmF0dXJlZGF0YQ"

SPELLINGS = [
    rf"GET https://x.example/a?sv=2020\u0026sig={SECRET}\u0026se=2030",
    f"uri=https%3A%2F%2Fx.example%2Fa%3Fsv%3D1%26sig%3D{SECRET}%26se%3D2",
    f"protectedSettings={SECRET}",
    f'{{"protected_settings": "{SECRET}"}}',
    f"pwd={SECRET}",
    f"passphrase={SECRET}",
    f"the key is {ACCOUNT_KEY} here",
    f"Authorization header was {JWT}",
    f"run.sh --password {SECRET} --user x",
    f"mysql -u root -p{SECRET} mydb",
    f'{{"sig": "{SECRET}"}}',
    f"api_key={SECRET}",
    f'{{"apiKey": "{SECRET}"}}',
    f"credentials={SECRET}",
    f"git clone admin:{SECRET}@repo.example.com/x.git",
    f'{{"commandToExecute": "mysql -p{SECRET}"}}',
    f'password="{SECRET} with spaces"',
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_every_spelling_is_redacted(text: str) -> None:
    out = redact_text(text)
    assert SECRET not in out and ACCOUNT_KEY not in out, out
    assert REDACTED in out
    assert redact_text(out) == out  # idempotent


@pytest.mark.parametrize(
    "cut",
    [
        f'{{"password": "{SECRET}',
        f'\\"password\\": \\"{SECRET}',
        f"{{'password': '{SECRET}",
        f"<UserPassword>{SECRET}",
        f'"commandToExecute": "sh -c {SECRET}',
    ],
)
def test_a_secret_cut_before_its_closing_delimiter_is_redacted_to_the_end(cut: str) -> None:
    assert SECRET not in redact_text(cut)


@pytest.mark.parametrize(
    "text",
    ["Provisioning.DeleteRootPassword=y", "Provisioning.DeleteRootPassword=n",
     '{"disablePasswordAuthentication": true}', '"commandToExecute": "snapshot"',
     "at 2024-01-31 10:00:00@host.example ok", "mail root@host.example"],
)
def test_switches_and_lookalikes_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_json_settings_are_redacted_by_structure() -> None:
    settings = {
        "protectedSettings": "MIIB" + SECRET,
        "publicSettings": {
            "commandToExecute": f"curl -H 'x: {SECRET}' https://x",
            "storageAccountKey": SECRET,
            "client_credential": SECRET,
            "sigValue": SECRET,
            "DeleteRootPassword": "y",
            "fileUris": ["https://x.example/a.sh"],
        },
    }
    out = redact_obj(settings)
    assert SECRET not in repr(out)
    assert out["publicSettings"]["DeleteRootPassword"] == "y"
    assert out["publicSettings"]["fileUris"] == ["https://x.example/a.sh"]
    assert redact_obj({"commandToExecute": "snapshot"}) == {"commandToExecute": "snapshot"}
