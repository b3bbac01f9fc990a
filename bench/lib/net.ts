/**
 * bench/lib/net.ts: small network helpers shared by the bench scripts.
 * Exports: `freePort()` (a free TCP port on 127.0.0.1 for a peer server). Throws nothing.
 */
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
