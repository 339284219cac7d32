# One image for every faultlab node; docker-compose.yml picks the service per container.
# `make images` builds it (cluster/images.py) from a wheelhouse made on the host
# (build/wheelhouse: faultlab and its runtime dependencies only), so the build itself needs
# no network. BASE_IMAGE: python:3.11-slim where it can be pulled, otherwise a Debian
# bookworm base made locally with mmdebstrap (python3 3.11 and its venv module).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
COPY build/wheelhouse /tmp/wheelhouse
RUN python3 -m venv /opt/faultlab \
 && /opt/faultlab/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse faultlab \
 && rm -rf /tmp/wheelhouse
ENV PATH=/opt/faultlab/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app
EXPOSE 21000-21100
# The compose file sets FAULTLAB_NODE and the command for each container.
CMD ["python", "-m", "services.runtime"]
