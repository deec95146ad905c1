import { defineHandlers } from 'tideway';
import { catalog } from './catalog';
import { run } from './handlers';

/** Group beta's handlers. */
export default defineHandlers(catalog, { 'beta.work': run });
