# One image for the FX server and fx-endpoint (docker-compose.yml picks the command).
# Reproducible: a pinned base image (the Node version the README states) and `npm ci`, which installs
# exactly what package-lock.json records and fails if it does not match package.json.
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /fx
COPY package.json package-lock.json .npmrc nx.json tsconfig.base.json jest.config.js ./
COPY libs ./libs
COPY apps ./apps
COPY prisma ./prisma
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20.20.2-bookworm-slim
WORKDIR /fx
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 FX_DATA_DIR=/data
COPY --from=build /fx /fx
COPY docker/endpoint-entrypoint.sh /usr/local/bin/fx-endpoint-entrypoint
RUN ln -s /fx/apps/endpoint/dist/cli/index.js /usr/local/bin/fx-endpoint && chmod +x /fx/apps/endpoint/dist/cli/index.js /usr/local/bin/fx-endpoint-entrypoint
EXPOSE 8080
CMD ["node", "apps/server/dist/main.js"]
