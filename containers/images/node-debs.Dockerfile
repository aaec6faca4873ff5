# The Debian packages of cluster nodes (node-packages.txt: Slurm 22.05 with munge, slurmdbd on
# MariaDB, slurmrestd, sudo), downloaded only: node.Dockerfile installs them.
FROM hpchub/stage:system
COPY node-packages.txt /tmp/
RUN apt-get update \
 && apt-get install -y --download-only --no-install-recommends $(cat /tmp/node-packages.txt)
