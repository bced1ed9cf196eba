/**
 * Checks values against the message payloads of the AsyncAPI document with Ajv (JSON Schema
 * draft-07, the base of AsyncAPI's Schema Object), in strict mode: a keyword Ajv does not know, a
 * pattern that does not compile or a `required` naming no property fails the compilation.
 *
 * Objects are closed here (every schema with `properties` gets `additionalProperties: false`),
 * although the document leaves them open for clients: a server that sends a field the document
 * does not describe must fail the test.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A copy with closed objects, and `#/components/schemas/X` references as `#/$defs/X`. */
function closed(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') out.$ref = value.replace(/^#\/components\/schemas\//, '#/$defs/');
    else if (key === 'examples' || key === 'const' || key === 'enum') out[key] = value;
    else out[key] = closed(value);
  }
  if (isObject(node.properties) && !('additionalProperties' in node)) out.additionalProperties = false;
  return out;
}

export interface MessageValidator {
  /** Ajv's problems of `value` against the payload of message `name` (empty: it fits). */
  problems(name: string, value: unknown): string[];
}

/** One compiled validator per message of the document; throws when a payload does not compile. */
export function messageValidator(doc: {
  components: { schemas: Record<string, Json>; messages: Record<string, { payload: Json }> };
}): MessageValidator {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: true });
  addFormats(ajv);
  const defs = closed(doc.components.schemas) as Json;
  const compiled = new Map<string, ValidateFunction>();
  for (const [name, message] of Object.entries(doc.components.messages)) {
    compiled.set(name, ajv.compile({ ...(closed(message.payload) as Json), $defs: defs }));
  }
  return {
    problems(name, value) {
      const validate = compiled.get(name);
      if (!validate) throw new Error(`no message ${name} in the document`);
      if (validate(value)) return [];
      return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
    },
  };
}
