# The service image compose.yaml builds. NATS runs in its own container (NATS_URL is set).
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# No compile toolchain: better-sqlite3 13 loads a prebuilt binary from its npm package. Install
# scripts are skipped because npm would otherwise start a no-op `node-gyp rebuild` for it (it
# ignores its gypfile:false) that still needs python3 and make; the only other production
# script, esbuild's binary check, is not needed (its binary is an optional dependency).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY streams ./streams
COPY web ./web
COPY scripts ./scripts
COPY tsconfig.json ./
ENV HOST=0.0.0.0 PORT=3000 DATA_DIR=/data NODE_ENV=production
EXPOSE 3000
CMD ["node", "--import", "tsx", "src/server.ts"]
