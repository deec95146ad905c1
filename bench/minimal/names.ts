/** Queue and type names of the minimal Temporal baseline (bench only), defined once for its worker and the bench. */
export const MINIMAL_WORKFLOW_QUEUE = 'bench.minimal.workflow';
export const MINIMAL_ACTIVITY_QUEUE = 'bench.minimal.activity';
export const MINIMAL_WORKFLOW = 'minimalTask';
