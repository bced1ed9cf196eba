/** Principals and policies for the local AWS endpoint tests. */
import { randomBytes } from 'node:crypto';
import type { PolicyDocument, PolicyStatement, PrincipalRegistration } from '../../local/aws/iam';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';

/** A role session's credentials, as Lambda hands them to a function (ASIA... key, session token). */
export function principal(roleName: string, statements: PolicyStatement[], extra: PolicyDocument[] = []): PrincipalRegistration {
  return {
    accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(20).toString('base64'),
    sessionToken: randomBytes(24).toString('base64'),
    roleArn: `arn:aws:iam::${ACCOUNT}:role/${roleName}`,
    sessionName: `${roleName}-session`,
    policies: [{ Version: '2012-10-17', Statement: statements }, ...extra],
  };
}

export function credentialsOf(p: PrincipalRegistration): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  return {
    accessKeyId: p.accessKeyId,
    secretAccessKey: p.secretAccessKey,
    ...(p.sessionToken === undefined ? {} : { sessionToken: p.sessionToken }),
  };
}

export function sessionArn(p: PrincipalRegistration): string {
  return `arn:aws:sts::${ACCOUNT}:assumed-role/${p.roleArn.split('/').pop() ?? ''}/${p.sessionName}`;
}

/** What an SDK call rejected with: its name, message and HTTP status. */
export async function failure(call: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await call;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('the call succeeded');
}
