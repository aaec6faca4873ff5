"""The spawner's fast tier: hpchub's real SlurmSpawner and poller, JupyterHub's real user and
database objects (in memory), and a Slurm in memory (:mod:`.fake_slurm`)."""

from __future__ import annotations

import asyncio
import getpass
import logging
from pathlib import Path

import pytest
from jupyterhub import orm
from jupyterhub.objects import Hub
from jupyterhub.user import User

import hpchub.slurm.client as slurm_client
import hpchub.spawners.poller as poller_module
from hpchub.site_configs import load_site
from hpchub.spawners.poller import SlurmPoller
from hpchub.spawners.slurm import SlurmSpawner

from .fake_slurm import FakeSlurm

logging.getLogger("alembic").setLevel(logging.WARNING)
SITE = load_site(str(Path(__file__).parents[2] / "site_configs" / "testbed.yaml"))


def new_hub_process(monkeypatch) -> None:
    """What a (re)started hub process has: its own poller, polling fast here."""
    monkeypatch.setattr(poller_module, "_POLLER", SlurmPoller(
        idle_interval=0.05, pending_interval=0.05, hurry_interval=0.02, jitter=0, timeout=1))


@pytest.fixture()
def cluster(monkeypatch) -> FakeSlurm:
    fake = FakeSlurm()
    monkeypatch.setattr(slurm_client, "_CLIENT", fake)
    new_hub_process(monkeypatch)
    return fake


@pytest.fixture()
def restart_hub(monkeypatch):
    return lambda: new_hub_process(monkeypatch)


@pytest.fixture()
def hub_db():
    db = orm.new_session_factory("sqlite:///:memory:")()
    user = orm.User(name=getpass.getuser())  # submit() looks the user's home up
    db.add(user)
    db.commit()
    return db, user


@pytest.fixture()
def make_spawner(hub_db):
    db, orm_user = hub_db

    def make(name: str = "lab", **traits) -> SlurmSpawner:
        hub = Hub()
        user = User(orm_user, {"db": db, "hub": hub})
        orm_spawner = db.query(orm.Spawner).filter_by(user_id=orm_user.id, name=name).first()
        if orm_spawner is None:
            orm_spawner = orm.Spawner(user=orm_user, name=name)
            db.add(orm_spawner)
            db.commit()
        settings = {"pending_timeout": 5, "start_timeout": 20, "http_timeout": 5,
                    "hpchub_request": {"profile": "cpu", "kind": "batch", "partition": "regular",
                                       "time": "01:00:00"}, **traits}
        return SlurmSpawner(db=db, user=user, hub=hub, orm_spawner=orm_spawner,
                            api_token="a-token", site=SITE, **settings)

    return make


@pytest.fixture()
def run():
    """Run a scenario (a coroutine function) on a new event loop, bounded."""

    def run(scenario, timeout: float = 30):
        async def bounded():
            async with asyncio.timeout(timeout):
                return await scenario()

        return asyncio.run(bounded())

    return run
