import { z } from 'zod';
import { inputJsonSchema, inputShape } from '../../cli/input-shape';

// `tideway types` shows each task type's input in one line, from zod's own JSON Schema.
test.each([
  [z.object({ ms: z.number().int() }).strict(), '{ms: integer}'],
  [z.object({ url: z.url(), width: z.number().optional() }), '{url: string, width?: number}'],
  [z.object({ kind: z.enum(['a', 'b']), tags: z.array(z.string()) }), '{kind: "a"|"b", tags: string[]}'],
  [z.object({ a: z.object({ b: z.object({ c: z.string() }) }) }), '{a: {b: {...}}}'],
  [z.unknown(), 'any'],
  [z.string().or(z.number()), 'string|number'],
])('%# shows as its one-line shape', (schema, shape) => {
  expect(inputShape(inputJsonSchema(schema))).toBe(shape);
});

test('a schema zod cannot express as JSON Schema still lists as any', () => {
  expect(inputShape(inputJsonSchema(z.custom<string>((v) => typeof v === 'string')))).toBe('any');
});
