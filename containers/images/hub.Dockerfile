# The hub off the cluster: no Slurm, no munge, no sudo; Python, ssh and node (the proxy).
FROM hpchub/stage:runtime
COPY requirements-hub.txt /tmp/
RUN uv pip install -q --compile-bytecode --python /opt/hpchub/venv/bin/python -r /tmp/requirements-hub.txt
COPY chp/ /opt/chp/
COPY wheels/ install-hpchub.sh /tmp/wheels/
RUN sh /tmp/wheels/install-hpchub.sh
ENV PATH=/opt/hpchub/venv/bin:$PATH
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/hpchub/venv/bin/hpchub-node-init"]
