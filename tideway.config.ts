// This repo's own project is the demo in examples/demo: `npm start` and every `npx tideway ...` run
// from the repo root find this file and act for it, as they would in a team's own project.
export { default } from './examples/demo/tideway.config';
