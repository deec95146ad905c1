import type { TestServer } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __tidewayServer?: TestServer }).__tidewayServer?.stop();
}
