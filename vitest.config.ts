import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/servers/global-setup.ts'],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores and a real S3 server on the same machine: a few files at a time.
    maxWorkers: 2,
    reporters: ['default', './test/servers/plain-summary-reporter.ts'],
  },
});
