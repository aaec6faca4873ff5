# Debian's Slurm is built without libjwt, so it lacks slurmctld's/slurmdbd's auth/jwt plugin
# (slurmrestd's rest_auth/jwt is shipped). Build that one plugin from Debian's own source.
FROM hpchub/stage:system
RUN echo 'deb-src http://deb.debian.org/debian bookworm main' > /etc/apt/sources.list.d/src.list \
 && apt-get update && apt-get install -y --no-install-recommends gcc make libc6-dev libjwt-dev pkg-config dpkg-dev \
 && cd /tmp && apt-get source -q slurm-wlm \
 && cd slurm-wlm-*/ && ./configure -q --with-jwt --prefix=/usr --sysconfdir=/etc/slurm \
      --libdir=/usr/lib/x86_64-linux-gnu >/dev/null \
 && make -s -C src/plugins/auth/jwt \
 && install -m 0644 src/plugins/auth/jwt/.libs/auth_jwt.so /tmp/auth_jwt.so
