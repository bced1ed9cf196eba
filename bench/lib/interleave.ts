/**
 * Runs the variants of a micro-benchmark in the same process, interleaved: after a warm-up of
 * each, every round runs a block of each variant, in an order that rotates from round to round,
 * so drift (others' load, GC, JIT) reaches all of them alike. Each operation is timed alone.
 */
import { performance } from 'node:perf_hooks';

export interface Variant {
  readonly name: string;
  /** The timed operation. Its result is checked by `accept` when given. */
  readonly op: () => Promise<unknown>;
  /** Untimed preparation before each operation (e.g. evict the entry so the next read misses). */
  readonly before?: () => Promise<void>;
  /** A sample whose result fails this is dropped and counted (e.g. an L1 read that found no entry). */
  readonly accept?: (result: unknown) => boolean;
  /** Operations per round. */
  readonly perRound: number;
  /** Warm-up operations. */
  readonly warmup: number;
}

export interface VariantSamples {
  /** Milliseconds, one per accepted operation. */
  readonly samples: number[];
  readonly rejected: number;
}

export async function interleave(variants: readonly Variant[], rounds: number): Promise<Map<string, VariantSamples>> {
  const out = new Map<string, VariantSamples>(variants.map((v) => [v.name, { samples: [], rejected: 0 }]));
  for (const v of variants) {
    for (let i = 0; i < v.warmup; i++) {
      if (v.before) await v.before();
      await v.op();
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length] as Variant;
      const record = out.get(v.name) as VariantSamples;
      for (let i = 0; i < v.perRound; i++) {
        if (v.before) await v.before();
        const started = performance.now();
        const result = await v.op();
        const elapsed = performance.now() - started;
        if (v.accept && !v.accept(result)) (record as { rejected: number }).rejected++;
        else record.samples.push(elapsed);
      }
    }
  }
  return out;
}
