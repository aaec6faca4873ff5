# The testbed's images are built from the files in this folder (hpchub/containers/image.py):
# system -> runtime, node-debs (built at once) -> node, hub, hub-cli. Debian 13 ("trixie").
# This stage: Debian packages every node and the hub share (no compilers: the Python packages
# are wheels).
FROM debian:trixie
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
# Daemons are started by node_init, never by package scripts during the build.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      openmpi-bin libpmix-dev \
      python3 python3-venv \
      nodejs openssh-server openssh-client tini \
      iproute2 iputils-ping procps psmisc ca-certificates curl less hostname \
      nslcd libnss-ldapd libpam-ldapd ldap-utils \
 && rm -rf /var/lib/apt/lists/*
# Trust what the host trusts (package registries may be reached through the host's CA).
COPY host-ca/ /usr/local/share/ca-certificates/hpchub-host-ca/
RUN update-ca-certificates >/dev/null
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NATIVE_TLS=1 UV_NO_CACHE=1 UV_LINK_MODE=copy
# uv installs the images' Python packages (about 4x faster than pip here); the runtime keeps pip.
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install -q "uv<1" && ln -s /opt/uv/bin/uv /usr/local/bin/uv
