# Test only: Debian's mosquitto in place of eclipse-mosquitto:2 (Docker Hub is out of reach here),
# laid out as the official image is, so docker/compose.yaml mounts docker/mosquitto.conf unchanged.
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends mosquitto \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /mosquitto/config /mosquitto/data && chown mosquitto /mosquitto/data
USER mosquitto
CMD ["mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
