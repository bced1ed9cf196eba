/**
 * Global setup of the `as-deployed` jest project (runs once, in jest's parent process, before any
 * worker starts, and only when that project has tests to run): synthesizes the dev app offline into
 * cdk.out.local/dev, or reuses it while its inputs are unchanged (local/deployed/synth.ts), and
 * hands its directory to the workers as SHOP_EDGE_TEST_ASSEMBLY. Workers start their stacks from
 * that directory and never synthesize, so no two processes write one assembly at once.
 */
import { synthesizeApp } from '../../local/deployed/synth';

export default async function asDeployedSetup(): Promise<void> {
  const synth = await synthesizeApp({ envName: 'dev' });
  process.env.SHOP_EDGE_TEST_ASSEMBLY = synth.directory;
  if (process.env.SHOP_EDGE_TEST_VERBOSE === '1' || process.env.CI === 'true') {
    process.stderr.write(
      `\n[as-deployed] ${synth.synthesized ? `synthesized the dev app in ${synth.durationMs} ms` : 'cloud assembly unchanged'}: ${synth.directory}\n`,
    );
  }
}
