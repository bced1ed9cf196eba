/**
 * Mints a dev token for the local stack:
 *   npm run token -- --tenant T --perm P [--perm P ...] [--user U] [--ttl SECONDS]
 * Without --perm the token carries every permission. Signed HS256 with JWT_SECRET (the documented
 * dev default of local/dev-defaults.ts when unset), issuer ${JWT_ISSUER:-shop-edge-local},
 * audience ${JWT_AUDIENCE:-shop-edge}. Prints the token alone on stdout.
 */
import { parseArgs } from 'node:util';
import { PERMISSIONS } from '../functions/routes';
import { ID_PATTERN } from '../functions/shared/ids';
import { mintDevToken } from '../local/tokens';

const USAGE = 'usage: npm run token -- --tenant T [--perm P ...] [--user U] [--ttl SECONDS]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tenant: { type: 'string', short: 't' },
      perm: { type: 'string', short: 'p', multiple: true },
      user: { type: 'string', short: 'u' },
      ttl: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\npermissions: ${PERMISSIONS.join(', ')}\n`);
    return;
  }
  if (!values.tenant || !ID_PATTERN.test(values.tenant)) throw new Error(`--tenant must match ${ID_PATTERN.source}`);
  const unknown = (values.perm ?? []).filter((p) => !(PERMISSIONS as readonly string[]).includes(p));
  if (unknown.length > 0) throw new Error(`unknown permission ${unknown.join(', ')} (known: ${PERMISSIONS.join(', ')})`);
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0)) throw new Error('--ttl must be a positive number of seconds');
  const token = await mintDevToken({
    tenantId: values.tenant,
    ...(values.perm ? { permissions: values.perm } : {}),
    ...(values.user ? { userId: values.user } : {}),
    ...(ttl !== undefined ? { expiresInSeconds: ttl } : {}),
  });
  process.stdout.write(`${token}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exit(2);
});
