"""What a server job may post to the hub: hpchub's port report, never batchspawner's handler."""

from jupyterhub import apihandlers


def test_batchspawners_handler_is_gone_where_batchspawner_is_installed():
    import batchspawner.api  # a center coming from batchspawner still has it installed

    from hpchub.spawners import api

    apihandlers.default_handlers.append((r"/api/batchspawner", batchspawner.api.BatchSpawnerAPIHandler))
    api.install_handlers()  # what hpchub.hub.configure() runs
    paths = [path for path, *_ in apihandlers.default_handlers]
    assert r"/api/batchspawner" not in paths
    assert paths.count(api.PATH) == 1
