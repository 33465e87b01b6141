# The Node.js service of node-service.yaml (pricing-api.ts) with erldist installed beside it:
#   docker build -t ghcr.io/example/pricing-api:0.1.0 -f examples/kubernetes/pricing-api.Dockerfile examples/kubernetes
# Node.js 22.18+ runs the TypeScript file as it is (type stripping); erldist has no dependencies.
FROM node:22-slim
ARG ERLDIST_VERSION=0.1.0
WORKDIR /app
RUN npm init --yes > /dev/null && npm pkg set type=module \
  && npm install "erldist@${ERLDIST_VERSION}" && npm cache clean --force
COPY pricing-api.ts .
USER node
CMD ["node", "pricing-api.ts"]
