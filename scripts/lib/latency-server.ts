import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

export interface LatencyServer {
  /** POST anything here; the answer is 202 with `{"id":"<uuid>"}` after the latency. */
  readonly url: URL;
  close(): Promise<void>;
}

/**
 * The server runs on a worker thread of its own: in the script's thread it would take that
 * thread's time from the pipeline calling it, a handicap the gateway (a process of its own)
 * does not have. Plain JavaScript, so the worker needs no compiled file.
 */
const SERVER_SOURCE = `
const { createServer } = require('node:http');
const { randomUUID } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    setTimeout(() => {
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"id":"' + randomUUID() + '"}');
    }, workerData.latencyMs);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', () => {
  server.closeAllConnections();
  server.close(() => parentPort.close());
});
`;

/** A provider-like HTTP server: reads the request, answers 202 after a fixed latency. */
export async function startLatencyServer(latencyMs: number): Promise<LatencyServer> {
  const worker = new Worker(SERVER_SOURCE, { eval: true, workerData: { latencyMs } });
  // once() rejects if the worker fails before it answers.
  const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
  return {
    url: new URL(`http://127.0.0.1:${port}/send`),
    close: async () => {
      const exited = once(worker, 'exit');
      worker.postMessage('close');
      await exited;
    },
  };
}
