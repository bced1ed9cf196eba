/**
 * Secrets Manager reads: a secret's SecretString, with a timeout. The SDK client is imported and
 * built on the first read only (most of a client's init cost is its import), then reused.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

let client:
  | Promise<{ client: SecretsManagerClient; GetSecretValueCommand: typeof import('@aws-sdk/client-secrets-manager').GetSecretValueCommand }>
  | undefined;

function secretsManager() {
  client ??= import('@aws-sdk/client-secrets-manager').then(({ SecretsManagerClient, GetSecretValueCommand }) => ({
    client: new SecretsManagerClient({}),
    GetSecretValueCommand,
  }));
  return client;
}

/** The secret's SecretString; throws when the read fails or times out (callers retry on a later request). */
export async function readSecretString(secretId: string, timeoutMs = 3000): Promise<string> {
  const { client: sm, GetSecretValueCommand } = await secretsManager();
  const out = await sm.send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal: AbortSignal.timeout(timeoutMs) });
  if (out.SecretString === undefined || out.SecretString === '') throw new Error(`secret ${secretId} has no SecretString`);
  return out.SecretString;
}
