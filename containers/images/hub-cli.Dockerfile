# The hub on a submit host (`hub cli`): a cluster node (Slurm's commands, munge, sudo) with
# the hub's own packages added.
FROM hpchub/node:latest
COPY requirements-hub.txt /tmp/
COPY --from=hpchub/stage:hub-wheels /opt/hub-wheels/ /tmp/hub-wheels/
RUN /opt/hpchub/venv/bin/pip install --no-cache-dir -q --no-index --find-links /tmp/hub-wheels \
      -r /tmp/requirements-hub.txt && rm -rf /tmp/hub-wheels
