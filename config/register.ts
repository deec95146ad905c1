import type { AnyTaskDefinition } from './task';

/**
 * Declaration merging point for a project's catalog, so TaskClient and HttpTaskClient are typed by
 * it without a generic at every call:
 *
 *   declare module 'tideway' { interface Register { catalog: typeof catalog } }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Register {}

/** The registered catalog's task list; any task (names are strings, inputs unknown) when none is registered. */
export type RegisteredTasks = Register extends { catalog: { readonly tasks: infer T extends readonly AnyTaskDefinition[] } }
  ? T
  : readonly AnyTaskDefinition[];
