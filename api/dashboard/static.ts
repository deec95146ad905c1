import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TidewayError } from '../../config/errors';
import type { DASHBOARD_FILES } from './schemas';

/** Thrown at server start when the dashboard's page files cannot be found next to the code. */
export class DashboardFilesMissingError extends TidewayError {
  readonly type = 'DashboardFilesMissing';
}

type DashboardFile = (typeof DASHBOARD_FILES)[number] | 'index.html';

const CONTENT_TYPES: Record<DashboardFile, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'echarts.min.js': 'text/javascript; charset=utf-8',
};

/**
 * The page's files, read once at start. They are plain files in `api/dashboard/static/` (no build
 * step: the page uses no framework), found from the sources (`api/dashboard`) and from the
 * compiled code (`dist/api/dashboard`) alike; ECharts comes from its own package.
 */
export class DashboardFiles {
  private readonly files = new Map<DashboardFile, Buffer>();

  constructor(dir = findStaticDir()) {
    for (const f of ['index.html', 'app.js', 'style.css'] as const) this.files.set(f, readFileSync(join(dir, f)));
    this.files.set('echarts.min.js', readFileSync(require.resolve('echarts/dist/echarts.min.js')));
  }

  get(file: DashboardFile): { body: Buffer; contentType: string; cacheControl: string } {
    return {
      body: this.files.get(file)!,
      contentType: CONTENT_TYPES[file],
      // The page's own files change with every release and are small; the library is large and versioned.
      cacheControl: file === 'echarts.min.js' ? 'public, max-age=86400' : 'no-cache',
    };
  }
}

function findStaticDir(): string {
  for (let dir = __dirname, i = 0; i < 5; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'api', 'dashboard', 'static');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  throw new DashboardFilesMissingError(`api/dashboard/static/index.html not found above ${__dirname}`);
}
