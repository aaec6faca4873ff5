"""Site configs: bundled ones validate; broken ones fail naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hpchub.site_configs import SiteConfigError, bundled_site, load_site
from hpchub.site_configs.loader import parse_site
from hpchub.site_configs.schema import walltime_minutes
from hpchub.slurm.hostlist import expand_hostlist

TESTBED_TEXT = Path(__file__).parent.parent.joinpath("site_configs", "testbed.yaml").read_text()


def broken(edit) -> str:
    data = yaml.safe_load(TESTBED_TEXT)
    edit(data)
    return yaml.safe_dump(data)


@pytest.mark.parametrize("name", ["testbed", "perlmutter"])
def test_bundled_sites_validate(name):
    site = bundled_site(name)
    assert site.profiles and site.partitions


def test_testbed_shape():
    site = bundled_site("testbed")
    assert site.hostnames == ["c1", "c2", "c3", "g1"]
    assert site.node_group("g1").gpus >= 2
    assert site.groups_of("carol") == ["desi", "lsst"]
    assert site.groups_of("dave") == []
    assert [s.name for s in site.shared_nodes] == ["login1"]


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda d: d["profiles"][1].update(partition="nosuch"), "profiles[1].partition"),
        (lambda d: d["profiles"][2].update(qos=["gold"]), "profiles[2].qos"),
        (lambda d: d["profiles"][1].update(time="4 hours"), "profiles[1].time"),
        (lambda d: d["profiles"][0].update(colour="red"), "profiles[0].colour"),
        (lambda d: d["partitions"][0].update(nodes="c[1-9]"), "partitions[0].nodes"),
        (lambda d: d["collaborations"][0].update(members=["zed"]), "collaborations[0].members"),
        (lambda d: d["node_groups"][0].update(cpus="many"), "node_groups[0].cpus"),
        (lambda d: d["node_groups"][0].update(names="c[3-1]"), "node_groups[0].names"),
        (lambda d: d["profiles"][2].update(gpus_per_node=8), "profiles[2].gpus_per_node"),
        (lambda d: d["profiles"][4].update(max_nodes=10), "profiles[4].nodes"),
        (lambda d: d["profiles"][1].update(allowed_groups=["cms"]), "profiles[1].allowed_groups"),
        (lambda d: d.update(hub={"orphan_min_age_s": 1}), "hub.orphan_min_age_s"),
        (lambda d: d.update(hub={"port": 8443}), "set c.JupyterHub.bind_url"),
        (lambda d: d["users"].append({"name": "alice", "uid": 2999}), "users[4].name"),
    ],
)
def test_broken_config_names_the_key(edit, key):
    with pytest.raises(SiteConfigError) as err:
        parse_site(broken(edit), "site.yaml")
    assert key in str(err.value)
    assert str(err.value).startswith("site.yaml: invalid site config")


def test_not_yaml_and_not_mapping():
    with pytest.raises(SiteConfigError, match="not valid YAML"):
        parse_site("a: [", "x.yaml")
    with pytest.raises(SiteConfigError, match="mapping"):
        parse_site("- 1", "x.yaml")


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(SiteConfigError, match="no bundled site"):
        load_site("nosuch")
    with pytest.raises(SiteConfigError, match="cannot read"):
        load_site(tmp_path / "x.yaml")


def test_cli_validate_reports_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(broken(lambda d: d["profiles"][1].update(partition="nosuch")))
    done = subprocess.run([sys.executable, "-m", "hpchub.cli", "site", "validate", str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "profiles[1].partition: unknown partition 'nosuch'" in done.stderr
    good = subprocess.run([sys.executable, "-m", "hpchub.cli", "site", "validate", "testbed"],
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stderr


def test_hostlist_and_walltime():
    assert expand_hostlist("c[1-3],g1") == ["c1", "c2", "c3", "g1"]
    assert expand_hostlist("nid[0998-1000]") == ["nid0998", "nid0999", "nid1000"]
    assert expand_hostlist("a[1,3-4]b") == ["a1b", "a3b", "a4b"]
    assert expand_hostlist("r[1-2]n[1-2]") == ["r1n1", "r1n2", "r2n1", "r2n2"]  # two groups
    with pytest.raises(ValueError):
        expand_hostlist("c[a-b]")
    assert walltime_minutes("00:30:00") == 30
    assert walltime_minutes("1-00:00:30") == 1441
    with pytest.raises(ValueError):
        walltime_minutes("90")
