import { z } from 'zod';
import { errorSchema } from './schemas';

/**
 * Builds `/openapi.json` (OpenAPI 3.1, JSON Schema 2020-12) from the same zod schemas the handlers
 * parse with, so the document and the behaviour cannot disagree.
 */

/** What the document needs to know about one route. */
export interface RouteDoc {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI path, e.g. `/v1/tasks/{id}:cancel`. */
  path: string;
  summary: string;
  tags: string[];
  auth: boolean;
  params?: Record<string, z.ZodType>;
  query?: z.ZodObject;
  body?: z.ZodType;
  headers?: Record<string, { schema: z.ZodType; description: string }>;
  /** Status code → answer schema (JSON), or `'text'` for a plain-text answer. */
  responses: Record<number, { description: string; schema?: z.ZodType | 'text' }>;
}

function jsonSchema(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const js = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete js.$schema;
  return js;
}

/** The whole OpenAPI document for a list of routes. */
export function buildOpenApi(routes: readonly RouteDoc[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: unknown[] = [];
    for (const [name, schema] of Object.entries(r.params ?? {})) {
      parameters.push({ name, in: 'path', required: true, schema: jsonSchema(schema, 'input') });
    }
    if (r.query) {
      const shape = r.query.shape as Record<string, z.ZodType>;
      for (const [name, schema] of Object.entries(shape)) {
        parameters.push({ name, in: 'query', required: !schema.safeParse(undefined).success, schema: jsonSchema(schema, 'input') });
      }
    }
    for (const [name, h] of Object.entries(r.headers ?? {})) {
      parameters.push({ name, in: 'header', required: false, description: h.description, schema: jsonSchema(h.schema, 'input') });
    }
    const responses: Record<string, unknown> = {};
    for (const [code, res] of Object.entries(r.responses)) {
      responses[code] = {
        description: res.description,
        ...(res.schema === 'text'
          ? { content: { 'text/plain': { schema: { type: 'string' } } } }
          : res.schema
            ? { content: { 'application/json': { schema: jsonSchema(res.schema, 'output') } } }
            : {}),
      };
    }
    const errorCodes = r.auth ? ['400', '401', '404', '409', '413', '429'] : ['400'];
    for (const code of errorCodes) {
      if (responses[code]) continue;
      responses[code] = { $ref: `#/components/responses/Error${code}` };
    }
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      summary: r.summary,
      tags: r.tags,
      operationId: `${r.method}${r.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(r.auth ? {} : { security: [] }),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } } : {}),
      responses,
    };
  }
  const err = jsonSchema(errorSchema, 'output');
  const errorResponses: Record<string, unknown> = {};
  const what: Record<string, string> = {
    '400': 'Invalid request; details.issues names each bad field by path',
    '401': 'Missing or unknown API key',
    '404': 'Not found (or owned by another tenant)',
    '409': 'The resource is in a state that does not allow this',
    '413': 'Body larger than the server limit',
    '429': 'Backpressure or quota; retry after the Retry-After header',
  };
  for (const [code, description] of Object.entries(what)) {
    errorResponses[`Error${code}`] = {
      description,
      ...(code === '429' ? { headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds' } } } : {}),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return {
    openapi: '3.1.0',
    info,
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API key; it decides the tenant' } },
      schemas: { Error: err },
      responses: errorResponses,
    },
  };
}
