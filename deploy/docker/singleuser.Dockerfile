# The user-server image for the Zero to JupyterHub chart (singleuser.image in values.yaml):
# JupyterLab + NEXUS, no torch (models are served by the gateway).
#   docker build -f deploy/docker/singleuser.Dockerfile -t nexus-singleuser:0.1.0 .
FROM quay.io/jupyter/base-notebook:python-3.11
USER root
COPY . /tmp/nexus
RUN pip install --no-cache-dir "/tmp/nexus[postgres,hub]" \
 && mkdir -p /opt/nexus && cp /tmp/nexus/deploy/jupyterhub/routing-user.yaml /opt/nexus/ \
 && rm -rf /tmp/nexus
USER ${NB_UID}
