/**
 * Proof that the cdk-nag checks bite: with one acknowledgement withdrawn, synthesis fails (the pack
 * reports through CDK's validation, and a report with any finding, error or warning, fails it), and
 * the check nag.test.ts runs over the construct tree names the finding.
 */
import { PROD_CONTEXT, buildApp, synthesize, unacknowledgedFindings } from './support';

jest.setTimeout(120_000);

const withdrawn = new Set<string>();

jest.mock('../../lib/nag', () => {
  const actual = jest.requireActual('../../lib/nag');
  return {
    ...actual,
    acknowledge: (scope: unknown, ...acks: { id: string; reason: string }[]) =>
      actual.acknowledge(scope, ...acks.filter((a) => !withdrawn.has(a.id))),
  };
});

afterEach(() => withdrawn.clear());

describe('cdk-nag with acknowledgements withdrawn (an error, SMG4, and a warning, CFR1)', () => {
  beforeEach(() => {
    withdrawn.add('AwsSolutions-SMG4');
    withdrawn.add('AwsSolutions-CFR1');
  });

  it('fails synthesis, naming both findings', () => {
    let error: unknown;
    try {
      synthesize(PROD_CONTEXT);
    } catch (e) {
      error = e;
    }

    expect(String(error)).toMatch(/AwsSolutions-SMG4\b/);
    expect(String(error)).toMatch(/AwsSolutions-CFR1\b/);
  });

  it('reports both from the construct-tree check, with their severities', () => {
    const { app } = buildApp(PROD_CONTEXT);

    const findings = unacknowledgedFindings(app).map((f) => [f.rule, f.severity]);

    expect(findings.sort()).toEqual([
      ['AwsSolutions-CFR1', 'warning'],
      ['AwsSolutions-SMG4', 'error'],
    ]);
  });
});
