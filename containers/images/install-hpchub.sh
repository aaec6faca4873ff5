#!/bin/sh
# hpchub from the wheel of the checkout, into the runtime venv (the last layer of both images).
set -eu
ln -sf /opt/chp/node_modules/.bin/configurable-http-proxy /usr/local/bin/configurable-http-proxy
/opt/hpchub/venv/bin/pip install --no-cache-dir -q --no-deps --force-reinstall /tmp/wheels/*.whl
ln -sf /opt/hpchub/venv/bin/hpchub /usr/local/bin/hpchub
ln -sf /opt/hpchub/venv/bin/getlatest /usr/local/bin/getlatest
ln -sf /opt/hpchub/venv/bin/hpchub-node-init /usr/local/bin/hpchub-node-init
echo 'export PATH=/opt/hpchub/venv/bin:$PATH' > /etc/profile.d/hpchub.sh
