import { startDeployedStack } from './local/deployed/stack';
async function main() {
  const t0 = Date.now();
  const stack = await startDeployedStack({ port: 0, wsPort: 0, logger: (part) => ({ info: (m: string) => { if (part !== 'rest') console.log(`[${part}] ${m.slice(0, 300)}`); }, warn: (m: string) => console.log(`[${part}] WARN ${m.slice(0, 300)}`), error: (m: string) => console.log(`[${part}] ERROR ${m.slice(0, 300)}`) }) });
  console.log('READY in', Date.now() - t0, 'ms', stack.startup, stack.seed, stack.seedError);
  for (let i = 0; i < 8; i++) { const t = Date.now(); const h = await fetch(`${stack.restUrl}/health`); console.log('health', h.status, Date.now() - t, 'ms', await h.text()); await new Promise((r) => setTimeout(r, 1500)); }
  for (let i = 0; i < 3; i++) { const t = Date.now(); const h = await fetch(`${stack.restUrl}/api/products/espresso-beans`, { headers: { Authorization: `Bearer ${stack.tokens.acme}` } }); console.log('get', h.status, Date.now() - t, 'ms', h.headers.get('x-cache')); }
  await new Promise((r) => setTimeout(r, 3000));
  console.log('pollers failures', stack.pollers.map((p) => `${p.functionName}: ${p.failures.length} failed batches, ${p.invocations} invocations`));
  console.log('denied calls', stack.dynamoDbCalls().filter((c) => !c.allowed).length, 'of', stack.dynamoDbCalls().length);
  await stack.stop();
}
main().catch((e) => { console.error(e); process.exit(1); });
