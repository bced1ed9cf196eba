/** The page-cursor signer of the list routes: CURSOR_KEY, or the secret CURSOR_KEY_SECRET_ARN names, read once. */
import { CursorSigner } from '../http/cursors';
import { readSecretString } from '../shared/clients/secrets';
import { cursorConfig } from '../shared/config';
import { provider } from './provider';

export const cursorSigner = provider<CursorSigner>('cursorSigner', async () => {
  const config = cursorConfig();
  // The Secrets Manager client itself loads on first use (shared/clients/secrets.ts).
  return new CursorSigner(config.keySecretArn !== undefined ? await readSecretString(config.keySecretArn) : (config.key as string));
});
