# Shared by the Relevo VM tests: prepended to every testScript (builtins.readFile).
# Assertions read the relay's own counters on its loopback HTTP listener; /metrics and the
# API need a bearer token, made with `relevo token add` as PostgreSQL's superuser (peer
# authentication: the Unix user postgres is the database role postgres).

API = "http://127.0.0.1:8080"
# Annotated: the test driver type-checks the script (mypy) and an empty literal has no type.
_TOKENS: dict[tuple[str, str], str] = {}


def api_token(node, role="admin"):
    """An API token of `role` on `node`'s Relevo, created once per test."""
    if (node.name, role) not in _TOKENS:
        node.wait_for_unit("relevo.service")
        node.wait_until_succeeds(f"curl -sf {API}/healthz")
        _TOKENS[(node.name, role)] = node.succeed(
            "runuser -u postgres -- env RELEVO_DATABASE_URL='postgresql:///relevo?host=/run/postgresql' "
            f"relevo token add --name vm-test-{role} --role {role}"
        ).strip()
    return _TOKENS[(node.name, role)]


def curl_api(node, path="/metrics"):
    """A shell command that GETs `path` with a Visor token."""
    return f"curl -sf -H 'Authorization: Bearer {api_token(node, 'visor')}' {API}{path}"


def wait_metric(node, line):
    """Wait until the appliance's /metrics has exactly this sample line."""
    node.wait_until_succeeds(f"{curl_api(node)} | grep -qxF '{line}'")


def main_pid(node):
    """relevo.service's main PID: unchanged means no restart (streams not cut)."""
    return node.succeed("systemctl show --property=MainPID --value relevo.service").strip()


def switch_to(node, toplevel):
    """Activate a system (a specialisation or the base) like `nixos-rebuild test`.

    Without an ACME server the certificate order unit has failed, and
    switch-to-configuration reports any failed unit with exit status 4; accept that
    status only when every failed unit is an ACME one.
    """
    status, out = node.execute(f"{toplevel}/bin/switch-to-configuration test 2>&1")
    failed = node.succeed("systemctl list-units --failed --plain --no-legend | awk '{print $1}'").split()
    unexpected = [u for u in failed if not u.startswith("acme-")]
    assert status in (0, 4) and not unexpected, f"switch to {toplevel}: status {status}, failed {failed}\n{out}"
