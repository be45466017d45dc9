# One image for the API, the workers and the operator CLI; the compose file picks the
# command. Not built on the project's machines (no Docker engine there).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p cartwright-api -p cartwright-workers -p cartwright-ctl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 cartwright
COPY --from=build /src/target/release/cartwright-api /src/target/release/cartwright-workers \
    /src/target/release/cartwright /usr/local/bin/
USER cartwright
ENV API_BIND=0.0.0.0:8080
EXPOSE 8080
CMD ["cartwright-api"]
