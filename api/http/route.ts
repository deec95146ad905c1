import type {
  FastifyReply,
  FastifyRequest,
  FastifySchemaCompiler,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { BadRequestError } from './errors';
import { issuesOf } from './schemas';

/**
 * A route of the HTTP API as data: fastify registers `schema` as the route's validation and
 * `/openapi.json` is built from the same object, so nothing is documented that is not served.
 */

/** The request parts fastify validates (its `schema` route option), each one zod schema. */
export interface RequestSchema {
  params?: z.ZodObject;
  querystring?: z.ZodObject;
  /** fastify validates a missing body as `null`: a schema that accepts `null` makes the body optional. */
  body?: z.ZodType;
  /** Header names as documented (`Idempotency-Key`); they are matched case-insensitively. */
  headers?: z.ZodObject;
}

/** Status code → what the answer is: JSON of a schema, `'text'`, or undocumented. */
export type Responses = Record<number, { description: string; schema?: z.ZodType | 'text' | undefined }>;

/** Any of a route's documented answers, so a handler cannot return something else. */
type Answer<R extends Responses> = { [C in keyof R]: R[C] extends { schema?: infer T } ? AnswerBody<NonNullable<T>> : unknown }[keyof R];
type AnswerBody<T> = [T] extends [never] ? unknown : [T] extends [z.ZodType] ? z.output<T> : [T] extends ['text'] ? string : unknown;

export interface Route<S extends RequestSchema = RequestSchema, R extends Responses = Responses> {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI path, e.g. `/v1/tasks/{id}:cancel`; fastify's URL is derived from it (`fastifyUrl`). */
  path: string;
  summary: string;
  tags: string[];
  /** False for the few routes anyone may call (`/healthz`). */
  auth: boolean;
  /** This route's largest body in bytes, when it differs from the server's. */
  bodyLimit?: number;
  schema: S;
  responses: R;
  /** Runs after fastify validated `req` against `schema` (its parts hold the parsed values). */
  handler(ctx: {
    tenant: string;
    req: FastifyRequest<RouteGenericInterface, RawServerDefault, RawRequestDefaultExpression, S, ZodTypeProvider>;
    reply: FastifyReply;
  }): Promise<Answer<R>>;
}

/** Declares a route; a function only so TypeScript infers each route's request and answer types. */
export function route<S extends RequestSchema, R extends Responses>(r: Route<S, R>): Route {
  // Erased for the route table; fastify calls each handler only with a request its schema passed.
  return r as unknown as Route;
}

/** A documented answer. */
export const ok = <T extends z.ZodType | 'text'>(description: string, schema?: T) => ({ description, schema });

/**
 * The fastify URL of an OpenAPI path: a literal `:` is `::`, and a `{param}` that does not end its
 * segment (`{id}:cancel`) needs a pattern so that the router knows where it stops; `(.+)` is greedy,
 * so a task ID may itself contain colons.
 */
export function fastifyUrl(path: string): string {
  return path
    .replaceAll(':', '::')
    .replace(/\{(\w+)\}(?!\/|$)/g, ':$1(.+)')
    .replace(/\{(\w+)\}/g, ':$1');
}

/**
 * Validates a request part with its route's zod schema, as fastify-type-provider-zod's
 * validatorCompiler does, but fails with our BadRequestError so a 400 lists issuesOf's
 * `{path, message}`. Headers are checked under their documented names and left as they are.
 */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const fail = (error: z.ZodError) => ({ error: new BadRequestError(issuesOf(error)) });
  if (httpPart !== 'headers') {
    return (data) => {
      const r = schema.safeParse(data);
      return r.success ? { value: r.data } : fail(r.error);
    };
  }
  const names = Object.keys((schema as z.ZodObject).shape);
  return (data) => {
    const headers = data as Record<string, unknown>;
    const r = schema.safeParse(Object.fromEntries(names.map((n) => [n, headers[n.toLowerCase()]])));
    return r.success ? {} : fail(r.error);
  };
};
