# Every cluster node (slurmdb, slurmctld, slurmrestd, c*, g*, login; a `cli` hub too). The role
# is chosen by the container's command (see hpchub/containers/node_init.py).
FROM hpchub/stage:node-debs
COPY --from=hpchub/stage:runtime /opt/hpchub/ /opt/hpchub/
RUN (test -s /etc/munge/munge.key || mungekey --create --keyfile=/etc/munge/munge.key) \
 && chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
COPY chp/ /opt/chp/
COPY wheels/ install-hpchub.sh /tmp/wheels/
RUN sh /tmp/wheels/install-hpchub.sh
ENV PATH=/opt/hpchub/venv/bin:$PATH
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/hpchub/venv/bin/hpchub-node-init"]
