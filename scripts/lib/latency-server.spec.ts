import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { startLatencyServer } from './latency-server';

function post(url: URL, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('startLatencyServer', () => {
  it('answers every request with 202 and its own id after the latency, then closes', async () => {
    const server = await startLatencyServer(40);
    try {
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => post(server.url, `{"n":${i}}`)),
      );
      const elapsed = performance.now() - started;
      expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(202));
      const ids = answers.map((answer) => (JSON.parse(answer.body) as { id: string }).id);
      expect(new Set(ids).size).toBe(20);
      // Timers may fire a millisecond early against performance.now().
      expect(elapsed).toBeGreaterThanOrEqual(39);
    } finally {
      await server.close();
    }
    await expect(post(server.url, '{}')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
