"""The zipapp's own words, in English and Brazilian Portuguese (rule texts come from spec.json)."""

TEXTS = {
    "en": {
        "heading": "waagent self-check of {root} (Python {python}, rule pack {version})",
        "checks": "Checks (from the rule pack):",
        "fix": "Fix",
        "cannot.network": "not probed: run again with --network",
        "cannot.missing": "not measured on this VM: {keys}",
        "network": "Network probes:",
        "probe.ok": "reached {endpoint} in {elapsed} ms",
        "probe.failed": "{endpoint}: {status} ({error})",
        "via_proxy": "via proxy {proxy}",
        "no_network": "Network probes: not run (add --network to test WireServer, IMDS, storage).",
        "unreadable": "Could not read (run as root for a complete check):",
        "logs_rules": "{count} more rules need the logs: send the bundle, or run "
                      "`waagent-analyzer analyze` on it.",
        "summary": "Summary: {fail} FAIL, {passed} PASS, {cannot} CANNOT CHECK.",
        "bundle": "Bundle for support: {path} ({files} files, {bytes} bytes uncompressed; "
                  "{redacted} redacted, {skipped} left out). Attach it to the support request.",
        "no_bundle": "Add --output bundle.tar.gz to write the redacted bundle for support.",
        "left_out": "Left out of the bundle:",
        "versions": "Versions on disk: installed agent {installed}; goal-state agent (status "
                    "file) {status}; downloaded agents {agents}.",
        "extension": "  extension {name} {version} ({state})",
        "unknown": "unknown",
    },
    "pt-BR": {
        "heading": "Autoverificação do waagent em {root} (Python {python}, regras {version})",
        "checks": "Verificações (do pacote de regras):",
        "fix": "Correção",
        "cannot.network": "não testado: execute de novo com --network",
        "cannot.missing": "não medido nesta VM: {keys}",
        "network": "Testes de rede:",
        "probe.ok": "{endpoint} alcançado em {elapsed} ms",
        "probe.failed": "{endpoint}: {status} ({error})",
        "via_proxy": "via proxy {proxy}",
        "no_network": "Testes de rede: não executados (use --network para testar WireServer, "
                      "IMDS e storage).",
        "unreadable": "Não foi possível ler (execute como root para uma verificação completa):",
        "logs_rules": "Mais {count} regras precisam dos logs: envie o pacote, ou execute "
                      "`waagent-analyzer analyze` nele.",
        "summary": "Resumo: {fail} FAIL (falha), {passed} PASS (ok), {cannot} CANNOT CHECK "
                   "(não verificável).",
        "bundle": "Pacote para o suporte: {path} ({files} arquivos, {bytes} bytes sem compressão; "
                  "{redacted} com dados ocultados, {skipped} deixados de fora). Anexe-o ao "
                  "chamado de suporte.",
        "no_bundle": "Use --output bundle.tar.gz para gravar o pacote (sem segredos) para o "
                     "suporte.",
        "left_out": "Deixados de fora do pacote:",
        "versions": "Versões em disco: agente instalado {installed}; goal-state agent (arquivo "
                    "de status) {status}; agentes baixados {agents}.",
        "extension": "  extensão {name} {version} ({state})",
        "unknown": "desconhecido",
    },
}

def t(key, lang, **values):
    # type: (str, str, object) -> str
    table = TEXTS.get(lang, TEXTS["en"])
    return table.get(key, TEXTS["en"][key]).format(**values)
