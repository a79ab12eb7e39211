import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '../../src/common/io/logger';
import { ToxiproxyServer, TOXIPROXY_API_VERSION } from './server';

/**
 * Standalone Toxiproxy server, with the flags of toxiproxy-server:
 *
 *   node dist/chaos/toxiproxy/main.js --host 127.0.0.1 --port 8474 [--config proxies.json] [--seed N]
 */

const USAGE = 'usage: main.js [--host localhost] [--port 8474] [--config file.json] [--seed N] [--version]';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: 'localhost' },
      port: { type: 'string', default: '8474' },
      config: { type: 'string' },
      seed: { type: 'string' },
      version: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`toxiproxy-server version ${TOXIPROXY_API_VERSION} (cairn)\n`);
    return 0;
  }
  const port = Number(values.port);
  const seed = values.seed === undefined ? Date.now() : Number(values.seed);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isSafeInteger(seed)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }

  const logger = createLogger({ component: 'toxiproxy' });
  const server = new ToxiproxyServer({ logger, seed });
  await server.start({ host: values.host, port });

  if (values.config !== undefined) {
    const result = await server.populate(JSON.parse(readFileSync(values.config, 'utf8')) as unknown);
    if (result.error !== undefined) logger.error({ config: values.config, err: result.error.message }, 'populate from config failed');
    else logger.info({ config: values.config, proxies: result.proxies.length }, 'populated proxies from config');
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'toxiproxy shutting down');
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: String(err) }, 'toxiproxy shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  // The one line a supervising script waits for.
  console.log(`toxiproxy listening on ${server.url} (seed ${seed})`);
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`toxiproxy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
