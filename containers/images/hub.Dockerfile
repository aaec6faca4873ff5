# The hub off the cluster: no Slurm, no munge, no sudo; Python, ssh and node (the proxy).
FROM hpchub/stage:runtime
COPY requirements-hub.txt /tmp/
COPY --from=hpchub/stage:hub-wheels /opt/hub-wheels/ /tmp/hub-wheels/
RUN /opt/hpchub/venv/bin/pip install --no-cache-dir -q --no-index --find-links /tmp/hub-wheels \
      -r /tmp/requirements-hub.txt && rm -rf /tmp/hub-wheels
COPY chp/ /opt/chp/
COPY wheels/ install-hpchub.sh /tmp/wheels/
RUN sh /tmp/wheels/install-hpchub.sh
ENV PATH=/opt/hpchub/venv/bin:$PATH
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/hpchub/venv/bin/hpchub-node-init"]
