import { z } from 'zod';

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
};

/** A task type's input schema as JSON Schema (zod's own conversion); undefined when zod cannot express it. */
export function inputJsonSchema(schema: z.ZodType): JsonSchema | undefined {
  try {
    return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  } catch {
    return undefined;
  }
}

/** A one-line picture of an input for `tideway types`, e.g. `{ms: integer, tag?: string}`. */
export function inputShape(s: JsonSchema | undefined, depth = 0): string {
  if (!s) return 'any';
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join('|');
  if (s.anyOf) return s.anyOf.map((x) => inputShape(x, depth)).join('|');
  if (s.type === 'object' && s.properties) {
    if (depth > 1) return '{...}';
    const req = new Set(s.required ?? []);
    const fields = Object.entries(s.properties).map(([k, v]) => `${k}${req.has(k) ? '' : '?'}: ${inputShape(v, depth + 1)}`);
    return `{${fields.join(', ')}}`;
  }
  if (s.type === 'array') return `${inputShape(s.items, depth + 1)}[]`;
  if (Array.isArray(s.type)) return s.type.join('|');
  return s.type ?? 'any';
}
