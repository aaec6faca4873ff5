# The Debian packages of cluster nodes (node-packages.txt: Slurm 24.11 with munge and Debian's
# auth/jwt plugin, slurmdbd on MariaDB, slurmrestd, slapd, PostgreSQL, sudo), installed while
# the runtime's Python packages install in their own stage; node.Dockerfile adds the runtime.
FROM hpchub/stage:system
COPY node-packages.txt /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(cat /tmp/node-packages.txt) >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
