// pnpm's hook on the manifests it reads (https://pnpm.io/pnpmfile).
//
// valibot (under @bull-board, the API's queue dashboard) has TypeScript as an optional peer,
// for its types only. pnpm meets an optional peer with the workspace root's TypeScript, a
// development tool, and then installs it with the production dependencies too, so the image
// would carry it. Dropping the peer leaves valibot as it runs: it needs no TypeScript.
module.exports = {
  hooks: {
    readPackage(manifest) {
      if (manifest.name === 'valibot') {
        delete manifest.peerDependencies?.typescript;
        delete manifest.peerDependenciesMeta?.typescript;
      }
      return manifest;
    },
  },
};
