# The hub's own packages (requirements-hub.txt: batchspawner, wrapspawner, directory login,
# PostgreSQL, idle culling), downloaded only: hub and hub-cli install them offline. The nodes'
# runtime does not have them.
FROM hpchub/stage:system
COPY requirements-hub.txt /tmp/
RUN python3 -m venv /tmp/download \
 && /tmp/download/bin/pip download --no-cache-dir -q -d /opt/hub-wheels -r /tmp/requirements-hub.txt \
 && rm -rf /tmp/download
