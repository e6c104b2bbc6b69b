# The user-server image for the Zero to JupyterHub chart (singleuser.image in values.yaml):
# JupyterLab + NEXUS. Language models are served by the gateway; free-text chat still needs the
# small embedding model (intent classification, memory) and chromadb (the extra "chat"), with the
# CPU build of torch (the default torch wheel pulls several GB of CUDA libraries).
#   docker build -f deploy/docker/singleuser.Dockerfile -t nexus-singleuser:0.1.0 .
FROM quay.io/jupyter/base-notebook:python-3.11
USER root
COPY . /tmp/nexus
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch>=2.3" \
 && pip install --no-cache-dir "/tmp/nexus[postgres,hub,chat]" \
 && mkdir -p /opt/nexus && cp /tmp/nexus/deploy/jupyterhub/routing-user.yaml /opt/nexus/ \
 && rm -rf /tmp/nexus
USER ${NB_UID}
