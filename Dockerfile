# coderun-webhook image: built from Debian's packages, run as non-root on a slim Debian base.
# (Not built in this repository's CI, which has no container engine; `make test` covers the binary.)
#   docker build -t ghcr.io/myorg/coderun-webhook:0.1.0 .

FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake make pkg-config ca-certificates libcpp-httplib-dev libssl-dev nlohmann-json3-dev \
      libspdlog-dev libyaml-cpp-dev prometheus-cpp-dev catch2 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY webhook webhook
COPY policy policy
COPY tests tests
# valijson is header-only: its headers only, not its package's Qt5/Poco dependencies.
RUN apt-get update && cd /tmp && apt-get download libvalijson-dev && \
    mkdir -p /src/build/_deps/valijson && dpkg-deb -x /tmp/libvalijson-dev_*.deb /src/build/_deps/valijson && \
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF && \
    cmake --build build -j"$(nproc)" && strip build/coderun-webhook

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpp-httplib0.11 libssl3 libspdlog1.10 libfmt9 libyaml-cpp0.7 libprometheus-cpp-core1.0 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/coderun-webhook /usr/local/bin/coderun-webhook
COPY policy/policy.yaml /etc/webhook/policy/policy.yaml
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/coderun-webhook"]
CMD ["serve", "--cert=/etc/webhook/tls/tls.crt", "--key=/etc/webhook/tls/tls.key", "--policy=/etc/webhook/policy/policy.yaml"]
