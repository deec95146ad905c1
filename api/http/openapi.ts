import { z } from 'zod';
import type { Route } from './route';
import { errorSchema } from './schemas';

/**
 * Builds `/openapi.json` (OpenAPI 3.1, JSON Schema 2020-12) from the routes fastify serves: the
 * schemas it validates requests with and the answers their handlers are typed against, so the
 * document and the behaviour cannot disagree.
 */

function fields(o: z.ZodObject | undefined): [string, z.ZodType][] {
  return Object.entries((o?.shape ?? {}) as Record<string, z.ZodType>);
}

function jsonSchema(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const js = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete js.$schema;
  return js;
}

/** The whole OpenAPI document for a list of routes. */
export function buildOpenApi(routes: readonly Route[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const { params, querystring, headers, body } = r.schema;
    const parameters: unknown[] = [];
    for (const [name, schema] of fields(params)) {
      parameters.push({ name, in: 'path', required: true, schema: jsonSchema(schema, 'input') });
    }
    for (const [name, schema] of fields(querystring)) {
      parameters.push({ name, in: 'query', required: !schema.safeParse(undefined).success, schema: jsonSchema(schema, 'input') });
    }
    for (const [name, schema] of fields(headers)) {
      parameters.push({
        name,
        in: 'header',
        required: !schema.safeParse(undefined).success,
        ...(schema.description ? { description: schema.description } : {}),
        schema: jsonSchema(schema, 'input'),
      });
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
      ...(body
        ? {
            requestBody: {
              // fastify validates a missing body as null (see RequestSchema).
              required: !body.safeParse(null).success,
              content: { 'application/json': { schema: jsonSchema(body, 'input') } },
            },
          }
        : {}),
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
