/**
 * NODE_OPTIONS as the Dockerfile sets them for the gateway (test/image.test.ts keeps the two
 * equal), so the benchmarks measure the memory the deployed process may take. Its own module, so
 * that test does not load the benchmark's Kafka and database clients.
 */
export const IMAGE_NODE_OPTIONS = '--max-old-space-size=320';
