import { defineHandlers } from 'tideway';
import { catalog } from './catalog';
import { run } from './handlers';

/** Group alpha's handlers (a group's module exports only its own types). */
export default defineHandlers(catalog, { 'alpha.work': run });
