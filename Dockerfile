# One image for every faultlab node; docker-compose.yml picks the service per container.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md topology.toml ./
COPY proto ./proto
COPY services ./services
COPY cluster ./cluster
COPY chaos ./chaos
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1
EXPOSE 21000-21100
# The compose file sets FAULTLAB_NODE and the command for each container.
CMD ["python", "-m", "services.runtime"]
