# affectlens serve: the HTTP API on CPU, offline (the emotion model ships inside the package, MediaPipe's face
# detector inside its wheel: nothing is downloaded at run time). Runs as a non-root user.
#
#   docker build -t affectlens .
#   docker run --rm -p 8000:8000 -v affectlens-jobs:/data -e AFFECTLENS_API_KEY=change-me affectlens
#   curl -H 'X-API-Key: change-me' -F file=@face.jpg http://localhost:8000/v1/analyze
FROM python:3.11-slim

# libGL and GLib for the OpenCV that MediaPipe brings; nothing else from the system.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[server]" && rm -rf /src

RUN useradd --create-home --uid 10001 affectlens && mkdir /data && chown affectlens /data
USER affectlens
WORKDIR /home/affectlens
VOLUME /data
EXPOSE 8000

# One analyzer thread per core: set --workers to the cores the container gets.
ENTRYPOINT ["affectlens", "serve", "--host", "0.0.0.0", "--port", "8000", "--store", "/data"]
CMD ["--workers", "2"]
