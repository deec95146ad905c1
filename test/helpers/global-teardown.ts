import type { DevServer } from '../../temporal';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __tidewayServer?: DevServer }).__tidewayServer?.stop();
}
