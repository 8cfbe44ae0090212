# A stand-in for an upstream multi-arch base image (ruby, golang, ...), made offline from
# busybox-static: a real two-platform index with a working shell, like an official image.
# `scripts/demo.sh` pushes it to the demo registry, which the engine uses as docker.io's mirror.
FROM scratch
ARG TARGETARCH
COPY rootfs/${TARGETARCH}/ /
COPY bin/ /usr/local/bin/
COPY release /etc/standin-release
