#!/usr/bin/env node
// Thin launcher so `npx tideway` runs the compiled CLI (build with `npm run build`).
require('../dist/cli/index.js');
