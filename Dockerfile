# syntax=docker/dockerfile:1
#
# One image for every process of the service: the API (default), the scheduler, both
# workers and the one-shot migration. docker-compose.yml picks the process with `command`.
# TypeScript is run by tsx, loaded into node itself (`node --import tsx`): there is no build
# step, and each service is one process that receives SIGTERM itself. (The tsx command runs
# the script in a second process and kills it outright when it is slow to confirm a signal.)
#
#   docker build -t license-reminders .
#   docker run --rm license-reminders node --import tsx scripts/migrate.ts

FROM node:20-bookworm-slim

# The corepack bundled with Node 20 ships outdated npm registry signing keys; without
# COREPACK_INTEGRITY_KEYS=0 it refuses to download pnpm. The version it fetches is pinned
# by the "packageManager" field of package.json.
ENV COREPACK_INTEGRITY_KEYS=0 \
    COREPACK_ENABLE_DOWNLOAD_PROMPT=0
RUN corepack enable pnpm

WORKDIR /app

# Manifests first, so the dependency layer is rebuilt only when a manifest or the lockfile
# changes. Every workspace package must be listed here (a frozen install fails otherwise);
# test/deploy/compose.test.ts checks that none is missing.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/config/package.json packages/config/
COPY packages/db/package.json packages/db/
COPY packages/delivery/package.json packages/delivery/
COPY packages/domain/package.json packages/domain/
COPY packages/jobs/package.json packages/jobs/
COPY packages/log/package.json packages/log/
COPY packages/reporting/package.json packages/reporting/
COPY packages/scan/package.json packages/scan/
COPY packages/testing/package.json packages/testing/
COPY services/api/package.json services/api/
COPY services/scheduler/package.json services/scheduler/
COPY services/sms-worker/package.json services/sms-worker/
COPY services/push-worker/package.json services/push-worker/

# Development dependencies are needed at run time: tsx runs the TypeScript sources.
# The pnpm store lives in a BuildKit cache mount, so it is reused across builds and
# does not end up in the image.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod=false --store-dir /pnpm/store

# The sources. .dockerignore keeps node_modules out, so the installed
# packages/*/node_modules and services/*/node_modules links survive these copies.
COPY tsconfig.base.json tsconfig.json ./
COPY packages ./packages
COPY services ./services
COPY migrations ./migrations
COPY scripts ./scripts

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000

# The files stay owned by root and read-only to the process; tsx keeps its cache in /tmp.
USER node

EXPOSE 3000
CMD ["node", "--import", "tsx", "services/api/src/main.ts"]
