# coderun-webhook image: built from Debian's packages, run as non-root on a slim Debian base.
#   make image        builds it here without a registry: the base (debian:bookworm-slim) is made
#                     from Debian packages (container/base.sh), then podman builds this file.
#   make image-test   runs it as the Deployment does and checks /readyz and an admission over TLS.
# Elsewhere: docker build -t ghcr.io/myorg/coderun-webhook:0.1.0 .  (the context is filtered by
# .dockerignore to CMakeLists.txt, webhook/ and policy/).

FROM debian:bookworm-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ ccache cmake make pkg-config libcpp-httplib-dev libssl-dev nlohmann-json3-dev \
      libspdlog-dev libyaml-cpp-dev libyaml-dev prometheus-cpp-dev libsimdjson-dev \
    && cd /tmp && apt-get download libvalijson-dev \
    && mkdir -p /opt/valijson && dpkg-deb -x /tmp/libvalijson-dev_*.deb /opt/valijson \
    && rm -rf /var/lib/apt/lists/* /tmp/*.deb
WORKDIR /src
COPY CMakeLists.txt ./
COPY webhook webhook
COPY policy policy
# valijson is header-only: its headers only (above), not its package's Qt5/Poco dependencies.
# RelWithDebInfo (-O2), stripped: the flags `make build` tests and benchmarks (gcc 12's -O3 also
# trips a -Wrestrict false positive in valijson's headers). ccache's directory is a cache mount
# kept between builds (BuildKit and buildah): when sources change, what they do not touch comes from
# the cache (by content, so a build tree older or newer than the sources cannot mislead it).
RUN --mount=type=cache,target=/ccache,id=coderun-webhook-ccache,sharing=locked \
    export CCACHE_DIR=/ccache \
    && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DVALIJSON_INCLUDE_DIR=/opt/valijson/usr/include >/dev/null \
    && cmake --build build -j"$(nproc)" --target coderun-webhook \
    && strip -o /usr/local/bin/coderun-webhook build/coderun-webhook \
    && /usr/local/bin/coderun-webhook --version && ccache --show-stats | grep -iE 'hits|misses' | head -3

FROM debian:bookworm-slim
# The shared libraries the binary links (ldd build/coderun-webhook); no shell tools are added.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpp-httplib0.11 libssl3 libspdlog1.10 libfmt9 libyaml-cpp0.7 libprometheus-cpp-core1.0 \
      libsimdjson14 libyaml-0-2 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=build /usr/local/bin/coderun-webhook /usr/local/bin/coderun-webhook
COPY policy/policy.yaml /etc/webhook/policy/policy.yaml
COPY policy/prompts /etc/agents
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/coderun-webhook"]
CMD ["serve", "--cert=/etc/webhook/tls/tls.crt", "--key=/etc/webhook/tls/tls.key", "--policy=/etc/webhook/policy/policy.yaml"]
