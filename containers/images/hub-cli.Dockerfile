# The hub on a submit host (`hub cli`): a cluster node (Slurm's commands, munge, sudo) with
# the hub's own packages added.
FROM hpchub/node:latest
COPY requirements-hub.txt /tmp/
RUN uv pip install -q --compile-bytecode --python /opt/hpchub/venv/bin/python -r /tmp/requirements-hub.txt
