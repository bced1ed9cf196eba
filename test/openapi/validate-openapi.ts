/**
 * A structural validator for OpenAPI 3.1 documents: the rules of the specification (and of JSON
 * Schema 2020-12, its schema dialect) that a generator can get wrong. No validator package is
 * installed (ajv 6 in node_modules is a transitive draft-07 one), and these checks are small.
 *
 * Returns the problems found, each as "<JSON pointer>: <what is wrong>"; [] means valid.
 *
 * Checked: the root and info objects (required and allowed fields, version 3.1.x, license);
 * paths (leading slash, no two paths equal up to parameter names), path items and operations
 * (allowed fields, unique operationIds, responses with valid status keys and descriptions);
 * parameters (name, in, path parameters required and matching the path template one to one,
 * unique name+in, schema xor content, no Accept/Content-Type/Authorization header parameters);
 * request bodies and media types; response headers; every local $ref resolves (no external ones);
 * component names; security requirements against declared schemes and the schemes themselves;
 * operation tags declared at the root; and every schema: 2020-12 keywords only (no OpenAPI 3.0
 * `nullable`, no boolean exclusiveMinimum, `items` a schema, `examples` an array), valid `type`,
 * `required` naming declared properties, compilable patterns, coherent bounds, enum and const.
 */

type Json = Record<string, unknown>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const ROOT_FIELDS = new Set([
  'openapi',
  'info',
  'jsonSchemaDialect',
  'servers',
  'paths',
  'webhooks',
  'components',
  'security',
  'tags',
  'externalDocs',
]);
const INFO_FIELDS = new Set(['title', 'summary', 'description', 'termsOfService', 'contact', 'license', 'version']);
const PATH_ITEM_FIELDS = new Set(['$ref', 'summary', 'description', 'servers', 'parameters', ...METHODS]);
const OPERATION_FIELDS = new Set([
  'tags',
  'summary',
  'description',
  'externalDocs',
  'operationId',
  'parameters',
  'requestBody',
  'responses',
  'callbacks',
  'deprecated',
  'security',
  'servers',
]);
const PARAMETER_FIELDS = new Set([
  'name',
  'in',
  'description',
  'required',
  'deprecated',
  'allowEmptyValue',
  'style',
  'explode',
  'allowReserved',
  'schema',
  'example',
  'examples',
  'content',
]);
const HEADER_FIELDS = new Set(['description', 'required', 'deprecated', 'style', 'explode', 'schema', 'example', 'examples', 'content']);
const RESPONSE_FIELDS = new Set(['description', 'headers', 'content', 'links']);
const MEDIA_TYPE_FIELDS = new Set(['schema', 'example', 'examples', 'encoding']);
const COMPONENT_TYPES = new Set([
  'schemas',
  'responses',
  'parameters',
  'examples',
  'requestBodies',
  'headers',
  'securitySchemes',
  'links',
  'callbacks',
  'pathItems',
]);
const JSON_TYPES = new Set(['null', 'boolean', 'object', 'array', 'number', 'string', 'integer']);
const SCHEMA_KEYWORDS = new Set([
  // core and applicator
  '$schema',
  '$id',
  '$ref',
  '$anchor',
  '$dynamicRef',
  '$dynamicAnchor',
  '$defs',
  '$comment',
  '$vocabulary',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  'dependentSchemas',
  'prefixItems',
  'items',
  'contains',
  'properties',
  'patternProperties',
  'additionalProperties',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
  // validation
  'type',
  'enum',
  'const',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxContains',
  'minContains',
  'maxProperties',
  'minProperties',
  'required',
  'dependentRequired',
  // meta-data, format, content
  'title',
  'description',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  'examples',
  'format',
  'contentEncoding',
  'contentMediaType',
  'contentSchema',
  // OpenAPI's vocabulary
  'discriminator',
  'xml',
  'externalDocs',
  'example',
]);
const SCHEMA_MAPS = ['properties', 'patternProperties', 'dependentSchemas', '$defs'] as const;
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'] as const;
const SCHEMA_SINGLES = [
  'not',
  'if',
  'then',
  'else',
  'items',
  'contains',
  'additionalProperties',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
] as const;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const escape = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');
const at = (pointer: string, ...segments: (string | number)[]) => `${pointer}/${segments.map((s) => escape(String(s))).join('/')}`;

export function validateOpenApi(document: unknown): string[] {
  const problems: string[] = [];
  const problem = (pointer: string, message: string): undefined => {
    problems.push(`${pointer || '#'}: ${message}`);
    return undefined;
  };
  if (!isObject(document)) return ['#: the document is not an object'];
  const doc = document;

  const allowed = (object: Json, fields: ReadonlySet<string>, pointer: string) => {
    for (const key of Object.keys(object))
      if (!fields.has(key) && !key.startsWith('x-')) problem(at(pointer, key), 'field not allowed here');
  };
  const str = (object: Json, key: string, pointer: string, required: boolean) => {
    if (object[key] === undefined) {
      if (required) problem(at(pointer, key), 'required');
    } else if (typeof object[key] !== 'string') {
      problem(at(pointer, key), 'must be a string');
    }
  };

  /** Follows a local $ref; undefined (and a problem) when it does not resolve. */
  const resolve = (ref: unknown, pointer: string): unknown => {
    if (typeof ref !== 'string') return problem(pointer, '$ref must be a string');
    if (!ref.startsWith('#/')) return problem(pointer, `external or relative $ref ${ref}: the document must stand alone`);
    let node: unknown = doc;
    for (const raw of ref.slice(2).split('/')) {
      const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isObject(node) && !Array.isArray(node)) return problem(pointer, `$ref ${ref} does not resolve`);
      node = (node as Json)[segment];
      if (node === undefined) return problem(pointer, `$ref ${ref} does not resolve`);
    }
    return node;
  };
  /** The object itself or what its $ref points to (components may be references). */
  const deref = (value: unknown, pointer: string): Json | undefined => {
    if (isObject(value) && '$ref' in value) {
      const target = resolve(value.$ref, at(pointer, '$ref'));
      return isObject(target) ? target : undefined;
    }
    return isObject(value) ? value : undefined;
  };

  // ---- schemas (JSON Schema 2020-12)
  const schema = (value: unknown, pointer: string): void => {
    if (typeof value === 'boolean') return;
    if (!isObject(value)) return problem(pointer, 'a schema must be an object or a boolean');
    for (const key of Object.keys(value)) {
      if (key === 'nullable') problem(at(pointer, key), 'nullable is OpenAPI 3.0; 3.1 uses type: [..., "null"]');
      else if (!SCHEMA_KEYWORDS.has(key) && !key.startsWith('x-'))
        problem(at(pointer, key), 'not a JSON Schema 2020-12 or OpenAPI keyword');
    }
    if ('$ref' in value) resolve(value.$ref, at(pointer, '$ref'));
    if (typeof value.$id === 'string' && value.$id.includes('#') && !value.$id.endsWith('#'))
      problem(at(pointer, '$id'), '$id must not contain a fragment');
    if (value.type !== undefined) {
      const types = Array.isArray(value.type) ? value.type : [value.type];
      if (types.length === 0 || types.some((t) => typeof t !== 'string' || !JSON_TYPES.has(t)))
        problem(at(pointer, 'type'), `invalid type ${JSON.stringify(value.type)}`);
      if (new Set(types).size !== types.length) problem(at(pointer, 'type'), 'types must be unique');
    }
    if (value.required !== undefined) {
      const required = value.required;
      if (!Array.isArray(required) || required.some((r) => typeof r !== 'string'))
        problem(at(pointer, 'required'), 'must be an array of strings');
      else {
        if (new Set(required).size !== required.length) problem(at(pointer, 'required'), 'names must be unique');
        const properties = isObject(value.properties) ? value.properties : {};
        for (const name of required)
          if (!(name in properties)) problem(at(pointer, 'required'), `${name} is required but not a declared property`);
      }
    }
    if (value.enum !== undefined && (!Array.isArray(value.enum) || value.enum.length === 0))
      problem(at(pointer, 'enum'), 'must be a non-empty array');
    if (value.examples !== undefined && !Array.isArray(value.examples))
      problem(at(pointer, 'examples'), 'must be an array in JSON Schema 2020-12');
    for (const key of ['exclusiveMinimum', 'exclusiveMaximum', 'minimum', 'maximum', 'multipleOf'] as const) {
      if (value[key] !== undefined && typeof value[key] !== 'number')
        problem(at(pointer, key), 'must be a number (boolean exclusive bounds are draft-04)');
    }
    for (const key of ['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties'] as const) {
      const n = value[key];
      if (n !== undefined && !(Number.isInteger(n) && (n as number) >= 0)) problem(at(pointer, key), 'must be a non-negative integer');
    }
    const bound = (low: string, high: string) => {
      if (typeof value[low] === 'number' && typeof value[high] === 'number' && (value[low] as number) > (value[high] as number))
        problem(at(pointer, low), `greater than ${high}`);
    };
    bound('minimum', 'maximum');
    bound('minLength', 'maxLength');
    bound('minItems', 'maxItems');
    bound('minProperties', 'maxProperties');
    if (value.pattern !== undefined) {
      try {
        new RegExp(String(value.pattern), 'u');
      } catch (error) {
        problem(at(pointer, 'pattern'), `does not compile: ${(error as Error).message}`);
      }
    }
    if (Array.isArray(value.items)) problem(at(pointer, 'items'), 'an array of schemas is prefixItems in 2020-12');
    for (const key of SCHEMA_MAPS) {
      const map = value[key];
      if (map === undefined) continue;
      if (!isObject(map)) problem(at(pointer, key), 'must be an object of schemas');
      else for (const [name, sub] of Object.entries(map)) schema(sub, at(pointer, key, name));
    }
    for (const key of SCHEMA_LISTS) {
      const list = value[key];
      if (list === undefined) continue;
      if (!Array.isArray(list) || list.length === 0) problem(at(pointer, key), 'must be a non-empty array of schemas');
      else list.forEach((sub, i) => schema(sub, at(pointer, key, i)));
    }
    for (const key of SCHEMA_SINGLES) if (value[key] !== undefined) schema(value[key], at(pointer, key));
  };

  const mediaTypes = (content: unknown, pointer: string) => {
    if (!isObject(content) || Object.keys(content).length === 0) return problem(pointer, 'content must map at least one media type');
    for (const [type, media] of Object.entries(content)) {
      const p = at(pointer, type);
      if (!/^[\w.+-]+\/[\w.+*-]+$|^\*\/\*$/.test(type)) problem(p, 'not a media type (range)');
      if (!isObject(media)) {
        problem(p, 'must be a Media Type object');
        continue;
      }
      allowed(media, MEDIA_TYPE_FIELDS, p);
      if (media.schema !== undefined) schema(media.schema, at(p, 'schema'));
    }
  };

  const schemaXorContent = (object: Json, pointer: string) => {
    const hasSchema = object.schema !== undefined;
    const hasContent = object.content !== undefined;
    if (hasSchema === hasContent) problem(pointer, 'needs exactly one of schema and content');
    if (hasSchema) schema(object.schema, at(pointer, 'schema'));
    if (hasContent) {
      if (isObject(object.content) && Object.keys(object.content).length !== 1)
        problem(at(pointer, 'content'), 'must hold exactly one media type');
      mediaTypes(object.content, at(pointer, 'content'));
    }
  };

  const parameter = (raw: unknown, pointer: string): Json | undefined => {
    const p = deref(raw, pointer);
    if (!p) {
      problem(pointer, 'must be a Parameter object or a $ref to one');
      return undefined;
    }
    if (p !== raw) return p; // validated where it is declared
    allowed(p, PARAMETER_FIELDS, pointer);
    str(p, 'name', pointer, true);
    if (!['query', 'header', 'path', 'cookie'].includes(String(p.in))) problem(at(pointer, 'in'), 'must be query, header, path or cookie');
    if (p.in === 'path' && p.required !== true) problem(at(pointer, 'required'), 'a path parameter must be required: true');
    if (p.required !== undefined && typeof p.required !== 'boolean') problem(at(pointer, 'required'), 'must be a boolean');
    if (p.in === 'header' && typeof p.name === 'string' && ['accept', 'content-type', 'authorization'].includes(p.name.toLowerCase())) {
      problem(at(pointer, 'name'), `a header parameter named ${p.name} is ignored by the specification`);
    }
    schemaXorContent(p, pointer);
    return p;
  };

  const header = (raw: unknown, pointer: string) => {
    const h = deref(raw, pointer);
    if (!h) return problem(pointer, 'must be a Header object or a $ref to one');
    if (h !== raw) return;
    allowed(h, HEADER_FIELDS, pointer);
    if ('name' in h || 'in' in h) problem(pointer, 'a Header object has no name or in');
    schemaXorContent(h, pointer);
  };

  const response = (raw: unknown, pointer: string) => {
    const r = deref(raw, pointer);
    if (!r) return problem(pointer, 'must be a Response object or a $ref to one');
    if (r !== raw) return;
    allowed(r, RESPONSE_FIELDS, pointer);
    str(r, 'description', pointer, true);
    if (r.headers !== undefined) {
      if (!isObject(r.headers)) problem(at(pointer, 'headers'), 'must be an object');
      else for (const [name, h] of Object.entries(r.headers)) header(h, at(pointer, 'headers', name));
    }
    if (r.content !== undefined) mediaTypes(r.content, at(pointer, 'content'));
  };

  const securitySchemes = isObject(doc.components) && isObject(doc.components.securitySchemes) ? doc.components.securitySchemes : {};
  const securityRequirements = (value: unknown, pointer: string) => {
    if (!Array.isArray(value)) return problem(pointer, 'must be an array of Security Requirement objects');
    value.forEach((requirement, i) => {
      if (!isObject(requirement)) return problem(at(pointer, i), 'must be an object');
      for (const [name, scopes] of Object.entries(requirement)) {
        if (!(name in securitySchemes)) problem(at(pointer, i, name), `no security scheme ${name} in components.securitySchemes`);
        if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string'))
          problem(at(pointer, i, name), 'must be an array of strings');
      }
    });
  };

  // ---- root and info
  allowed(doc, ROOT_FIELDS, '#');
  if (typeof doc.openapi !== 'string' || !/^3\.1\.\d+(-[\w.]+)?$/.test(doc.openapi)) problem('#/openapi', 'must be a 3.1.x version string');
  if (doc.paths === undefined && doc.components === undefined && doc.webhooks === undefined)
    problem('#', 'needs paths, components or webhooks');
  if (
    doc.jsonSchemaDialect !== undefined &&
    (typeof doc.jsonSchemaDialect !== 'string' || !/^[a-z][a-z0-9+.-]*:/i.test(doc.jsonSchemaDialect))
  ) {
    problem('#/jsonSchemaDialect', 'must be a URI');
  }
  if (!isObject(doc.info)) problem('#/info', 'required object');
  else {
    allowed(doc.info, INFO_FIELDS, '#/info');
    str(doc.info, 'title', '#/info', true);
    str(doc.info, 'version', '#/info', true);
    const license = doc.info.license;
    if (license !== undefined) {
      if (!isObject(license)) problem('#/info/license', 'must be an object');
      else {
        str(license, 'name', '#/info/license', true);
        if (license.identifier !== undefined && license.url !== undefined)
          problem('#/info/license', 'identifier and url are mutually exclusive');
      }
    }
  }
  if (doc.servers !== undefined) {
    if (!Array.isArray(doc.servers)) problem('#/servers', 'must be an array');
    else
      doc.servers.forEach((s, i) =>
        isObject(s) ? str(s, 'url', at('#/servers', i), true) : problem(at('#/servers', i), 'must be an object'),
      );
  }
  if (doc.security !== undefined) securityRequirements(doc.security, '#/security');
  const declaredTags = new Set<string>();
  if (doc.tags !== undefined) {
    if (!Array.isArray(doc.tags)) problem('#/tags', 'must be an array');
    else
      doc.tags.forEach((t, i) => {
        if (!isObject(t) || typeof t.name !== 'string') return problem(at('#/tags', i), 'needs a name');
        if (declaredTags.has(t.name)) problem(at('#/tags', i), `tag ${t.name} declared twice`);
        declaredTags.add(t.name);
      });
  }

  // ---- components
  if (doc.components !== undefined) {
    if (!isObject(doc.components)) problem('#/components', 'must be an object');
    else {
      allowed(doc.components, COMPONENT_TYPES, '#/components');
      for (const [type, map] of Object.entries(doc.components)) {
        if (type.startsWith('x-')) continue;
        if (!isObject(map)) {
          problem(at('#/components', type), 'must be an object');
          continue;
        }
        for (const [name, value] of Object.entries(map)) {
          const pointer = at('#/components', type, name);
          if (!/^[a-zA-Z0-9.\-_]+$/.test(name)) problem(pointer, 'component names must match ^[a-zA-Z0-9.\\-_]+$');
          if (type === 'schemas') schema(value, pointer);
          else if (type === 'responses') response(value, pointer);
          else if (type === 'parameters') parameter(value, pointer);
          else if (type === 'headers') header(value, pointer);
          else if (type === 'securitySchemes') {
            const s = deref(value, pointer);
            if (!s) continue;
            if (!['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'].includes(String(s.type)))
              problem(at(pointer, 'type'), 'not a security scheme type');
            if (s.type === 'http') str(s, 'scheme', pointer, true);
            if (s.type === 'apiKey') {
              str(s, 'name', pointer, true);
              if (!['query', 'header', 'cookie'].includes(String(s.in))) problem(at(pointer, 'in'), 'must be query, header or cookie');
            }
            if (s.type === 'oauth2' && !isObject(s.flows)) problem(at(pointer, 'flows'), 'required');
            if (s.type === 'openIdConnect') str(s, 'openIdConnectUrl', pointer, true);
          }
        }
      }
    }
  }

  // ---- paths and operations
  const operationIds = new Map<string, string>();
  if (doc.paths !== undefined) {
    if (!isObject(doc.paths)) problem('#/paths', 'must be an object');
    else {
      const shapes = new Map<string, string>();
      for (const [path, item] of Object.entries(doc.paths)) {
        const pointer = at('#/paths', path);
        if (path.startsWith('x-')) continue;
        if (!path.startsWith('/')) problem(pointer, 'a path must begin with /');
        const shape = path.replace(/\{[^}]*\}/g, '{}');
        if (shapes.has(shape)) problem(pointer, `equal to ${shapes.get(shape)} up to parameter names`);
        shapes.set(shape, path);
        const templated = [...path.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] as string);
        if (new Set(templated).size !== templated.length) problem(pointer, 'a template expression appears twice');
        if (!isObject(item)) {
          problem(pointer, 'must be a Path Item object');
          continue;
        }
        allowed(item, PATH_ITEM_FIELDS, pointer);
        const itemParameters = Array.isArray(item.parameters)
          ? item.parameters.map((p, i) => parameter(p, at(pointer, 'parameters', i)))
          : [];
        const methods = METHODS.filter((m) => item[m] !== undefined);
        if (methods.length === 0) problem(pointer, 'no operation');
        for (const method of methods) {
          const op = item[method];
          const opPointer = at(pointer, method);
          if (!isObject(op)) {
            problem(opPointer, 'must be an Operation object');
            continue;
          }
          allowed(op, OPERATION_FIELDS, opPointer);
          if (op.operationId !== undefined) {
            if (typeof op.operationId !== 'string') problem(at(opPointer, 'operationId'), 'must be a string');
            else if (operationIds.has(op.operationId))
              problem(at(opPointer, 'operationId'), `duplicate of ${operationIds.get(op.operationId)}`);
            else operationIds.set(op.operationId, opPointer);
          }
          if (op.tags !== undefined) {
            if (!Array.isArray(op.tags)) problem(at(opPointer, 'tags'), 'must be an array');
            else
              for (const tag of op.tags)
                if (!declaredTags.has(String(tag))) problem(at(opPointer, 'tags'), `tag ${String(tag)} is not declared in #/tags`);
          }
          const opParameters = Array.isArray(op.parameters)
            ? op.parameters.map((p, i) => parameter(p, at(opPointer, 'parameters', i)))
            : op.parameters === undefined
              ? []
              : (problem(at(opPointer, 'parameters'), 'must be an array'), []);
          const seen = new Set<string>();
          for (const p of opParameters) {
            if (!p) continue;
            const key = `${String(p.in)}:${String(p.name)}`;
            if (seen.has(key)) problem(at(opPointer, 'parameters'), `parameter ${String(p.name)} in ${String(p.in)} declared twice`);
            seen.add(key);
          }
          // Operation parameters override path-level ones with the same name and location.
          const effective = new Map<string, Json>();
          for (const p of [...itemParameters, ...opParameters]) if (p) effective.set(`${String(p.in)}:${String(p.name)}`, p);
          const pathParams = [...effective.values()].filter((p) => p.in === 'path').map((p) => String(p.name));
          for (const name of templated) if (!pathParams.includes(name)) problem(opPointer, `path parameter {${name}} is not declared`);
          for (const name of pathParams)
            if (!templated.includes(name)) problem(opPointer, `path parameter ${name} is not in the path template`);

          if (op.requestBody !== undefined) {
            const body = deref(op.requestBody, at(opPointer, 'requestBody'));
            if (!body) problem(at(opPointer, 'requestBody'), 'must be a Request Body object or a $ref to one');
            else {
              if (body.required !== undefined && typeof body.required !== 'boolean')
                problem(at(opPointer, 'requestBody', 'required'), 'must be a boolean');
              mediaTypes(body.content, at(opPointer, 'requestBody', 'content'));
            }
            if (method === 'get' || method === 'head' || method === 'delete')
              problem(at(opPointer, 'requestBody'), `a request body on ${method.toUpperCase()} has no defined semantics`);
          }
          if (!isObject(op.responses) || Object.keys(op.responses).length === 0) {
            problem(at(opPointer, 'responses'), 'at least one response is required');
          } else {
            for (const [status, r] of Object.entries(op.responses)) {
              if (status.startsWith('x-')) continue;
              if (status !== 'default' && !/^[1-5](\d\d|XX)$/.test(status))
                problem(at(opPointer, 'responses', status), 'not a status code, a range like 4XX, or default');
              response(r, at(opPointer, 'responses', status));
            }
          }
          if (op.security !== undefined) securityRequirements(op.security, at(opPointer, 'security'));
        }
      }
    }
  }
  return problems;
}
