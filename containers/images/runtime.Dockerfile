# The runtime every job executes: world-readable, identical on every node.
FROM hpchub/stage:system
COPY requirements-node.txt /tmp/requirements-node.txt
RUN python3 -m venv /opt/hpchub/venv \
 && uv pip install -q --compile-bytecode --python /opt/hpchub/venv/bin/python -r /tmp/requirements-node.txt \
 && chmod -R a+rX /opt/hpchub
# rfc3987-syntax builds ~35 Lark parsers at import, ~2 s of every JupyterLab start here
# (jupyter-server/jupyter_server#1559, python-jsonschema/jsonschema#1428). jsonschema treats it
# as optional and no Jupyter schema uses the "iri" formats it checks.
RUN uv pip uninstall -q --python /opt/hpchub/venv/bin/python rfc3987-syntax
