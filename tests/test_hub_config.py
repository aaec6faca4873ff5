"""A center's jupyterhub_config.py, loaded by JupyterHub itself: hpchub fills in only what the
admin left unset, and settings it would ignore stop the hub with the key to use instead."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from jupyterhub.app import JupyterHub

from hpchub.hub.run import CONFIG_TEMPLATE
from hpchub.hub.settings import HubConfigError

TESTBED = str(resources.files("hpchub.site_configs").joinpath("testbed.yaml"))


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """configure() sets this process's Slurm client and poller: put them back after."""
    from hpchub.slurm import client
    from hpchub.spawners import poller

    saved_client, saved_poller = client._CLIENT, poller._POLLER
    poller._POLLER = None
    yield
    client._CLIENT, poller._POLLER = saved_client, saved_poller


def load(tmp_path: Path, body: str) -> JupyterHub:
    """JupyterHub's own loading of a config file (a bad one: logged, then SystemExit)."""
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(body)
    app = JupyterHub()
    app.load_config_file(str(path))
    app.update_config(app.config)
    return app


def center(tmp_path: Path, *lines: str) -> str:
    return "\n".join([
        f"c.HPCHub.site_config = {TESTBED!r}",
        f"c.HPCHub.state_dir = {str(tmp_path / 'state')!r}",
        'c.HPCHub.slurm_access = "cli"',
        "c.JupyterHub.internal_ssl = False",  # its TLS set-up patches JupyterHub process-wide
        *lines,
        "import hpchub.hub",
        "hpchub.hub.configure(c)",
    ]) + "\n"


def test_a_center_config_of_a_few_lines_runs_hpchub_with_the_admins_choices(tmp_path):
    app = load(tmp_path, center(
        tmp_path,
        'c.JupyterHub.bind_url = "http://0.0.0.0:9999"',
        'c.JupyterHub.authenticator_class = "ldapauthenticator"',
        'c.JupyterHub.db_url = "postgresql+psycopg://hub@db/hub"',
        'c.JupyterHub.services = [{"name": "idle-culler", "command": ["cull"]}]',
    ))
    from hpchub.spawners.profiles import ProfilesSpawner

    assert app.spawner_class is ProfilesSpawner  # the "hpchub" entry point
    assert app.bind_url == "http://0.0.0.0:9999"
    assert app.db_url == "postgresql+psycopg://hub@db/hub"
    assert [s["name"] for s in app.services] == ["idle-culler", "hpchub-reconciler", "hpchub-membership",
                                                   "prometheus", "notebook-webhook"]
    # Not PAM: hpchub must not widen the admin's authenticator to everyone.
    assert "allow_all" not in app.config.Authenticator
    assert "allowed_users" not in app.config.Authenticator
    assert app.cleanup_servers is False
    assert app.config.Spawner.environment["HPCHUB_KERNEL_ROOT"]


def test_a_site_without_idle_limits_runs_no_culler(tmp_path):
    mini = str(Path(__file__).parent / "data" / "mini.yaml")
    app = load(tmp_path, center(tmp_path).replace(TESTBED, mini))
    assert "idle-culler" not in [s["name"] for s in app.services]
    assert "idle-culler" not in [r["name"] for r in app.load_roles]  # JupyterHub refuses a role
    app = load(tmp_path, center(tmp_path))  # of a service it does not have
    culler = next(s for s in app.services if s["name"] == "idle-culler")
    assert "--timeout=30" in culler["command"] and culler["environment"]["HPCHUB_SITE_CONFIG"] == TESTBED


def test_with_nothing_chosen_the_hub_logs_in_the_site_users_with_pam(tmp_path):
    app = load(tmp_path, center(tmp_path))
    assert app.config.JupyterHub.authenticator_class == "pam"
    assert app.config.Authenticator.allowed_users == {"alice", "bob", "carol", "dave"}
    assert app.db_url.startswith("sqlite:///") and str(tmp_path / "state") in app.db_url


def refused(tmp_path: Path, body: str, capsys) -> str:
    """What JupyterHub says when it refuses to start with this config."""
    with pytest.raises(SystemExit):
        load(tmp_path, body)
    return capsys.readouterr().err


@pytest.mark.parametrize(("setting", "advice"), [
    ('c.SlurmSpawner.req_memory = "4G"', "node_groups[].memory_mb"),
    ('c.BatchSpawnerBase.batch_script = "#!/bin/sh"', "profiles[]"),
    ('c.ProfilesSpawner.profiles = []', "profiles[] in the site config"),
    ("c.Spawner.mem_limit = '2G'", "shared_nodes[].max_memory_mb_per_user"),
])
def test_an_inherited_setting_hpchub_ignores_stops_the_hub_naming_the_key_to_use(
        tmp_path, setting, advice, capsys):
    said = refused(tmp_path, center(tmp_path, setting), capsys)
    assert f"{setting.split(' =')[0]} has no effect in hpchub" in said and advice in said


def test_an_ignored_setting_made_after_configure_still_stops_the_spawner(tmp_path):
    app = load(tmp_path, center(tmp_path) + 'c.SlurmSpawner.req_qos = "debug"\n')
    from hpchub.spawners.profiles import ProfilesSpawner

    with pytest.raises(HubConfigError, match=r"c.SlurmSpawner.req_qos .*profiles\[\]\.qos"):
        ProfilesSpawner(config=app.config)


def test_a_wrong_site_config_stops_the_hub_naming_the_key(tmp_path, capsys):
    site = tmp_path / "site.yaml"
    text = Path(TESTBED).read_text().replace("partition: gpu", "partition: nosuch", 1)
    assert "nosuch" in text
    site.write_text(text)
    said = refused(tmp_path, center(tmp_path).replace(TESTBED, str(site)), capsys)
    assert re.search(r"profiles\[\d+\]\.partition: unknown partition 'nosuch'", said)


def test_a_missing_site_config_or_a_bad_value_stops_the_hub(tmp_path, capsys):
    said = refused(tmp_path, "import hpchub.hub\nhpchub.hub.configure(c)\n", capsys)
    assert "c.HPCHub.site_config is not set" in said
    said = refused(tmp_path, center(tmp_path, 'c.HPCHub.poll_interval_running = "fast"'), capsys)
    assert "poll_interval_running" in said and "'fast'" in said


def test_hpchub_hub_loads_the_admins_config_dir_and_their_settings_win(tmp_path):
    config_dir = tmp_path / "jupyterhub_config.d"
    config_dir.mkdir()
    (config_dir / "10-center.py").write_text(
        'c.JupyterHub.bind_url = "http://0.0.0.0:8443"\n'
        "c.HPCHub.poll_interval_running = 7.5\n"
        "c.SlurmSpawner.submit_timeout = 90\n")
    (config_dir / "20-no-tls.py").write_text("c.JupyterHub.internal_ssl = False\n")
    app = load(tmp_path, CONFIG_TEMPLATE.format(
        site=TESTBED, state=str(tmp_path / "state"), mode="cli", config_dir=str(config_dir)))
    from hpchub.spawners.poller import poller

    assert app.bind_url == "http://0.0.0.0:8443"
    assert poller().idle_interval == 7.5
    assert app.config.SlurmSpawner.submit_timeout == 90


def test_command_line_settings_reach_hpchub(tmp_path):
    """As `jupyterhub -f FILE --HPCHub.slurm_access=rest`: the command line wins over the file."""
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(center(tmp_path).replace('c.HPCHub.slurm_access = "cli"', ""))
    app = JupyterHub.instance()  # as `jupyterhub` runs (launch_instance)
    try:
        app.parse_command_line(["--HPCHub.slurm_access=cli", "--HPCHub.poll_interval_running=3"])
        app.load_config_file(str(path))
    finally:
        JupyterHub.clear_instance()
    from hpchub.slurm.cli import SlurmCLI
    from hpchub.slurm.client import slurm
    from hpchub.spawners.poller import poller

    assert isinstance(slurm(), SlurmCLI) and poller().idle_interval == 3


def test_jupyterhub_help_all_lists_hpchubs_settings():
    out = subprocess.run([str(Path(sys.executable).with_name("jupyterhub")), "--help-all"],
                         capture_output=True, text=True, check=True).stdout
    for option in ("--HPCHub.site_config", "--HPCHub.poll_interval_running",
                   "--HPCHub.slurm_cache_lifetime", "--SlurmSpawner.job_output",
                   "--SlurmSpawner.submit_timeout", "--SharedNodeSpawner.ssh_login"):
        assert option in out


def test_the_reference_page_is_current():
    from hpchub.reference import render

    page = Path(__file__).parents[1] / "docs" / "reference.md"
    assert page.read_text() == render(), "run: python -m hpchub.reference > docs/reference.md"


def test_hpchubs_home_page_comes_after_the_admins_own_templates(tmp_path):
    app = load(tmp_path, center(tmp_path, 'c.JupyterHub.template_paths = ["/etc/center/templates"]'))
    ours = str(resources.files("hpchub.spawners").joinpath("templates"))
    assert app.template_paths[:2] == ["/etc/center/templates", ours]
    assert (Path(ours) / "home.html").read_text().startswith('{% extends "templates/home.html" %}')
    plain = load(tmp_path, center(tmp_path))
    assert plain.template_paths[0] == ours
