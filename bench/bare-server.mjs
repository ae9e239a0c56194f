// The benchmark's yardstick: Fastify's hello world, with as many cluster workers as Tessera gets
// in the same run (BENCH_WORKERS), so every ratio compares like with like.
import cluster from 'node:cluster';
import Fastify from 'fastify';

const workers = Number(process.env.BENCH_WORKERS ?? 1);
const port = Number(process.env.PORT ?? 0);

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.once('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const app = Fastify({ logger: false });
  app.get('/', async () => ({ hello: 'world' }));
  await app.listen({ port, host: '127.0.0.1' });
  process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
}
