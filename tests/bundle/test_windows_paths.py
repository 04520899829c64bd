"""Windows bundle members are recognised whatever the separator, drive letter or letter case."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from analyzer.bundle.classify import classify
from analyzer.bundle.names import normalise_path
from analyzer.bundle.walker import walk
from analyzer.errors import Problem
from analyzer.settings import Limits


@pytest.mark.parametrize(
    ("raw", "logical", "kind"),
    [
        ("C:\\WindowsAzure\\Logs\\WaAppAgent.log", "WindowsAzure/Logs/WaAppAgent.log",
         "windows_agent_log"),
        ("C:/WindowsAzure/Logs/TransparentInstaller.log", "WindowsAzure/Logs/TransparentInstaller.log",
         "windows_installer_log"),
        ("case-77/WindowsAzure/Logs/WaAppAgent.log", "WindowsAzure/Logs/WaAppAgent.log",
         "windows_agent_log"),
        ("CaseLogs/2024-03-05_10.00.00_UTC/F/windowsazure/logs/waappagent.log",
         "CaseLogs/2024-03-05_10.00.00_UTC/F/windowsazure/logs/waappagent.log",
         "windows_agent_log"),
        ("WindowsAzure/Logs/Plugins/Microsoft.Azure.RecoveryServices.VMSnapshot/1.0.92.0/"
         "IaaSBcdrExtension1.log",
         "WindowsAzure/Logs/Plugins/Microsoft.Azure.RecoveryServices.VMSnapshot/1.0.92.0/"
         "IaaSBcdrExtension1.log",
         "windows_plugin_log"),
        ("C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot\\1.0.92.0\\Status\\12.status",
         "Packages/Plugins/Microsoft.Azure.RecoveryServices.VMSnapshot/1.0.92.0/Status/12.status",
         "extension_status"),
        ("Packages/Plugins/Microsoft.Compute.BGInfo/2.1/RuntimeSettings/0.settings",
         "Packages/Plugins/Microsoft.Compute.BGInfo/2.1/RuntimeSettings/0.settings",
         "extension_settings"),
        ("WindowsAzure/Logs/AggregateStatus/aggregatestatus_20240305.json",
         "WindowsAzure/Logs/AggregateStatus/aggregatestatus_20240305.json",
         "windows_aggregate_status"),
        # A package folder's own logs are not the agent's plugin logs.
        ("Packages/Plugins/Microsoft.Powershell.DSC/2.83/DSCWork/x.log",
         "Packages/Plugins/Microsoft.Powershell.DSC/2.83/DSCWork/x.log", "other"),
        # Files that hold passwords or custom data are never read.
        ("C:\\AzureData\\CustomData.bin", "AzureData/CustomData.bin", "secret"),
        ("Windows/Panther/unattend.xml", "Windows/Panther/unattend.xml", "secret"),
    ],
)
def test_windows_paths_are_classified(raw: str, logical: str, kind: str) -> None:
    path = normalise_path(raw)[0]
    assert path == logical
    assert classify(path) == kind


def test_drive_letter_is_reported_as_an_absolute_name() -> None:
    assert normalise_path("C:\\WindowsAzure\\Logs\\WaAppAgent.log")[3] == (
        "unsafe path (absolute path)",
    )


def test_linux_tar_names_keep_their_backslashes() -> None:
    """Only Windows-agent shaped names are split on ``\\``; a Linux name stays one name."""
    assert normalise_path("var/log/odd\\name.log")[0] == "var/log/odd\\name.log"


def _walk(path: Path) -> dict[str, str]:
    problems: list[Problem] = []
    return {m.logical_path: m.kind for m in walk(path, Limits(), problems)}


def test_zip_with_backslash_entries_and_tar_of_the_folders(tmp_path: Path) -> None:
    log = b"[00000006] 2024-03-04T01:00:02.114Z [INFO]  WindowsAzureGuestAgent starting.\r\n"
    zipped = tmp_path / "VMAgentLogs.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("WindowsAzure\\Logs\\WaAppAgent.log", log)
        zf.writestr("Packages\\Plugins\\A.B\\1.0\\Status\\0.status", b"[]")
    tarred = tmp_path / "case.tgz"
    with tarfile.open(tarred, "w:gz") as tar:
        info = tarfile.TarInfo("WindowsAzure/Logs/TransparentInstaller.log")
        info.size = len(log)
        tar.addfile(info, io.BytesIO(log))
    assert _walk(zipped) == {
        "WindowsAzure/Logs/WaAppAgent.log": "windows_agent_log",
        "Packages/Plugins/A.B/1.0/Status/0.status": "extension_status",
    }
    assert _walk(tarred) == {"WindowsAzure/Logs/TransparentInstaller.log": "windows_installer_log"}


def test_compress_archive_layout_of_the_readme(tmp_path: Path) -> None:
    """``Compress-Archive -Path C:\\WindowsAzure\\Logs, C:\\Packages\\Plugins`` keeps only the last
    folder names: ``Logs\\...`` and ``Plugins\\...``."""
    zipped = tmp_path / "vmagent-logs.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("Logs\\WaAppAgent.log", b"x\r\n")
        zf.writestr("Logs\\Plugins\\A.B\\1.0.2\\CommandExecution.log", b"x\r\n")
        zf.writestr("Logs\\AggregateStatus\\aggregatestatus.json", b"{}")
        zf.writestr("Plugins\\A.B\\1.0.2\\Status\\7.status", b"[]")
        zf.writestr("Plugins\\A.B\\1.0.2\\RuntimeSettings\\7.settings", b"{}")
    assert _walk(zipped) == {
        "Logs/WaAppAgent.log": "windows_agent_log",
        "Logs/Plugins/A.B/1.0.2/CommandExecution.log": "windows_plugin_log",
        "Logs/AggregateStatus/aggregatestatus.json": "windows_aggregate_status",
        "Plugins/A.B/1.0.2/Status/7.status": "extension_status",
        "Plugins/A.B/1.0.2/RuntimeSettings/7.settings": "extension_settings",
    }


def test_rescue_vm_copy_layout(tmp_path: Path) -> None:
    """The rescue-VM script copies the attached disk under CaseLogs/<time>_UTC/<drive>/."""
    base = "CaseLogs/2024-03-05_10.00.00_UTC/F/"
    zipped = tmp_path / "CaseLogs.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr(base + "WindowsAzure/Logs/WaAppAgent.log", b"x\r\n")
        zf.writestr(base + "Packages/Plugins/A.B/1.0.2/Status/7.status", b"[]")
        zf.writestr(base + "Windows/System32/winevt/Logs/Windows Azure.evtx", b"\x00")
    assert _walk(zipped) == {
        base + "WindowsAzure/Logs/WaAppAgent.log": "windows_agent_log",
        base + "Packages/Plugins/A.B/1.0.2/Status/7.status": "extension_status",
        base + "Windows/System32/winevt/Logs/Windows Azure.evtx": "other",
    }
